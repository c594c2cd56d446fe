//! Response bodies (whole, or streamed from a blob with bounded buffers) and bounded reads of
//! request bodies.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use berth_engine::BlobFile;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::error::{ApiError, ErrorCode};

type ReadFuture = Pin<Box<dyn Future<Output = std::io::Result<Bytes>>>>;

/// Every response body the server sends.
pub enum ResponseBody {
    Full(Option<Bytes>),
    Blob(BlobStream),
}

impl ResponseBody {
    pub fn empty() -> Self {
        ResponseBody::Full(None)
    }

    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            ResponseBody::Full(None)
        } else {
            ResponseBody::Full(Some(bytes))
        }
    }
}

/// Streams `[pos, end)` of a blob, one read of at most `chunk_bytes` at a time. The next read
/// starts only when hyper asks for the next frame, i.e. when the socket took the previous one:
/// memory per download is one chunk, whatever the blob's size.
pub struct BlobStream {
    file: Rc<BlobFile>,
    pos: u64,
    end: u64,
    chunk_bytes: usize,
    pending: Option<ReadFuture>,
}

impl BlobStream {
    pub fn new(file: BlobFile, start: u64, end: u64, chunk_bytes: usize) -> Self {
        BlobStream {
            file: Rc::new(file),
            pos: start,
            end,
            chunk_bytes,
            pending: None,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Blob(stream) => {
                if stream.pos >= stream.end {
                    return Poll::Ready(None);
                }
                let pending = stream.pending.get_or_insert_with(|| {
                    let file = stream.file.clone();
                    let pos = stream.pos;
                    let len = (stream.end - stream.pos).min(stream.chunk_bytes as u64) as usize;
                    Box::pin(async move { file.read(pos, len).await })
                });
                match pending.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(result) => {
                        stream.pending = None;
                        match result {
                            Ok(bytes) if bytes.is_empty() => {
                                Poll::Ready(Some(Err(std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    "blob file ended early",
                                ))))
                            }
                            Ok(bytes) => {
                                stream.pos += bytes.len() as u64;
                                Poll::Ready(Some(Ok(Frame::data(bytes))))
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "blob read failed mid-stream");
                                Poll::Ready(Some(Err(e)))
                            }
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::Blob(stream) => stream.pos >= stream.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseBody::Blob(stream) => SizeHint::with_exact(stream.end - stream.pos),
        }
    }
}

/// A response body that holds its request's in-flight guard until it is done.
pub struct Tracked {
    body: ResponseBody,
    _guard: super::InFlightGuard,
}

impl Tracked {
    pub fn new(body: ResponseBody, guard: super::InFlightGuard) -> Self {
        Tracked {
            body,
            _guard: guard,
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A JSON response with its `Content-Type` and `Content-Length`.
pub fn json_response(status: http::StatusCode, body: Vec<u8>) -> http::Response<ResponseBody> {
    let len = body.len();
    let mut response = http::Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    response
}

/// A request body that the HTTP layer keeps a handle on while a handler reads it, so that
/// whatever the handler left unread can be drained before an error is answered
/// ([`RequestBody::drain`]).
pub struct RequestBody(Rc<RefCell<Option<Incoming>>>);

impl RequestBody {
    /// The body for the handler, and the HTTP layer's handle on the same body.
    pub fn new(body: Incoming) -> (RequestBody, RequestBody) {
        let shared = Rc::new(RefCell::new(Some(body)));
        (RequestBody(shared.clone()), RequestBody(shared))
    }

    /// Reads and discards what is left, up to [`ERROR_BODY_DRAIN_BYTES_MAX`].
    ///
    /// Bug story: a request refused before its body was read (an out-of-order chunk's 416, an
    /// oversized manifest's 413) was answered at once, hyper then closed the connection, and a
    /// client still writing its body got EPIPE and never saw the answer (Go clients read it
    /// anyway; many others do not). Draining a bounded amount first lets the client finish
    /// writing and read the error; beyond the bound the connection is closed as before.
    pub async fn drain(mut self) {
        let mut drained = 0u64;
        while drained < ERROR_BODY_DRAIN_BYTES_MAX {
            match self.frame().await {
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, |d| d.len() as u64),
                Some(Err(_)) | None => return,
            }
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut slot = self.0.borrow_mut();
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }
}

/// Most bytes of an unread request body discarded before an error is answered.
pub const ERROR_BODY_DRAIN_BYTES_MAX: u64 = 8 << 20;

/// Reads a whole request body of at most `max` bytes; larger bodies get 413.
pub async fn read_limited(body: RequestBody, max: u64) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                http::StatusCode::BAD_REQUEST,
                ErrorCode::SizeInvalid,
                format!("reading request body: {e}"),
            )
        })?;
        if let Some(data) = frame.data_ref() {
            if (out.len() + data.len()) as u64 > max {
                return Err(too_large(max));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out)
}

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::SizeInvalid,
        format!("request body exceeds the {max} byte limit"),
    )
}
