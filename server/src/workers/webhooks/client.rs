//! The webhook delivery client: one POST of one body to one destination, over HTTP/1.1 or
//! HTTPS, on the delivery shard's glommio executor.
//!
//! It owns the delivery shard's outgoing connections: the TLS configuration (the system's roots
//! from `rustls-native-certs`, plus the PEM certificates of an optional extra CA file), the name
//! resolution, the address checks and a small pool of idle keep-alive connections per
//! destination.
//!
//! Invariants:
//! - A connection goes only to an address that was checked: an IP literal, or an address the one
//!   lookup of this attempt returned and `is_private` let through (unless private destinations
//!   are allowed). There is no second lookup between the check and the connect, so a name that
//!   changes its answer (DNS rebinding) cannot slip a private address in.
//! - Every `post` ends within `request_timeout`, whatever the receiver does, and stops reading
//!   a response body once it holds `response_capture_bytes` of it (hyper may have buffered one
//!   read's worth more; nothing past that is read).
//! - A connection goes back to the idle pool only after its response body was read to the end
//!   and the receiver did not ask to close it; at most `idle_connections_per_destination_max`
//!   wait per destination. A connection that leaves the pool any other way is closed: dropping
//!   a `Connection` cancels the task that drives it.
//!
//! It must not block the executor: names are resolved on glommio's blocking pool. It does not
//! enforce the URL rules (`Destination::parse` does, when a webhook is configured) and does not
//! decide what a status means: any HTTP answer is `Ok(Delivered)`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::destination::{is_private, refused_name, Destination, Scheme};
use crate::http::io::HyperIo;

/// What every delivery request says it is.
const USER_AGENT_VALUE: &str = concat!("Berth-Webhook/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long one TCP connect may take (each address tried gets this, within the overall
    /// deadline).
    pub connect_timeout: Duration,
    /// How long a whole `post` may take: resolving, connecting, the TLS handshake, sending,
    /// the response head and reading up to `response_capture_bytes` of the body.
    pub request_timeout: Duration,
    /// Whether loopback, private and other non-public addresses may be reached.
    pub allow_private_destinations: bool,
    /// A PEM file of CA certificates trusted besides the system's roots.
    pub extra_ca_file: Option<PathBuf>,
    /// How much of a response body is read and kept for the delivery record.
    pub response_capture_bytes: usize,
    /// How many idle keep-alive connections are kept per destination (scheme and authority).
    pub idle_connections_per_destination_max: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            allow_private_destinations: false,
            extra_ca_file: None,
            response_capture_bytes: 2048,
            idle_connections_per_destination_max: 4,
        }
    }
}

/// Why a client could not be built (at startup, from the configuration).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the webhook CA file {}: {error}", path.display())]
    CaFileUnreadable { path: PathBuf, error: io::Error },
    #[error("the webhook CA file {} is not valid PEM: {error}", path.display())]
    CaFileInvalid {
        path: PathBuf,
        error: rustls::pki_types::pem::Error,
    },
    #[error("the webhook CA file {} holds no certificates", path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("a certificate in the webhook CA file {} is not usable as a root: {error}", path.display())]
    CaCertificateRejected { path: PathBuf, error: rustls::Error },
    #[error("TLS configuration refused: {error}")]
    TlsConfigRefused { error: rustls::Error },
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
    /// The first `response_capture_bytes` of the response body.
    pub response_head: Vec<u8>,
    pub elapsed: Duration,
}

/// Why a delivery attempt got no answer. The text is what an operator reads in a delivery
/// record's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot resolve {host}: {error}")]
    Resolve { host: String, error: io::Error },
    #[error("{host} resolves to {addr}, a private address; set webhooks.allow_private_destinations = true to allow it")]
    PrivateDestination { host: String, addr: IpAddr },
    #[error("{host} always names this machine; set webhooks.allow_private_destinations = true to allow it")]
    LoopbackName { host: String },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("cannot connect to {addr}: {error}")]
    Connect { addr: SocketAddr, error: io::Error },
    #[error("connecting to {addr} took longer than {after:?}")]
    ConnectTimeout { addr: SocketAddr, after: Duration },
    #[error("TLS with {host} failed: {error}")]
    Tls { host: String, error: io::Error },
    #[error("no complete answer within {after:?}")]
    Timeout { after: Duration },
    #[error("HTTP exchange failed: {}", error_chain(error))]
    Http { error: hyper::Error },
    #[error("the request cannot be built: {error}")]
    RequestMalformed { error: http::Error },
}

/// hyper's text with the causes under it ("connection error: Connection reset by peer").
fn error_chain(error: &hyper::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An HTTP/1.1 connection: the handle requests go through, and the task that drives it.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: glommio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing the socket with the handle: a connection nobody can use must not linger in the
        // executor waiting for a receiver that never closes its side.
        self.driver.cancel();
    }
}

/// Idle connections are pooled per (scheme, authority).
type PoolKey = (Scheme, String);

/// How one exchange on a connection ended without an answer.
enum ExchangeFailure {
    /// hyper reports the connection closed or cancelled before a response head arrived.
    NoResponse(hyper::Error),
    /// Any other failure.
    Failed(DeliveryError),
}

impl ExchangeFailure {
    fn into_error(self) -> DeliveryError {
        match self {
            ExchangeFailure::NoResponse(error) => DeliveryError::Http { error },
            ExchangeFailure::Failed(error) => error,
        }
    }
}

/// The delivery shard's HTTP client. It lives on one executor (it is not `Send`).
pub struct Client {
    options: ClientOptions,
    tls: Arc<rustls::ClientConfig>,
    idle: RefCell<HashMap<PoolKey, Vec<Connection>>>,
}

impl Client {
    /// Builds the client and its TLS configuration. Reads the system's roots and the extra CA
    /// file, so it is meant for startup, not for a running executor's hot path.
    pub fn new(options: ClientOptions) -> Result<Client, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::warn!(%error, "reading the system's root certificates for webhooks");
        }
        let (_added, ignored) = roots.add_parsable_certificates(native.certs);
        if ignored > 0 {
            tracing::debug!(ignored, "system root certificates rustls cannot use");
        }
        if let Some(path) = &options.extra_ca_file {
            add_ca_file(&mut roots, path)?;
        }
        if roots.is_empty() {
            tracing::warn!("no root certificates: https:// webhooks will fail their TLS checks");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| ClientError::TlsConfigRefused { error })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            options,
            tls: Arc::new(config),
            idle: RefCell::new(HashMap::new()),
        })
    }

    /// POSTs `body` to `destination` with the client's own headers (`Host`, `Content-Length`,
    /// `User-Agent`) and the caller's (the client's win where they overlap). Any HTTP status is
    /// `Ok`; the whole call ends within `request_timeout`.
    pub async fn post(
        &self,
        destination: &Destination,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Delivered, DeliveryError> {
        let started = Instant::now();
        let after = self.options.request_timeout;
        let attempt = self.attempt(destination, headers, body, started);
        let deadline = async {
            glommio::timer::sleep(after).await;
            Err(DeliveryError::Timeout { after })
        };
        futures_lite::future::or(attempt, deadline).await
    }

    /// One delivery: on an idle connection if there is one (and once more on a new connection
    /// if that one turns out to have been closed under us), else on a new connection.
    async fn attempt(
        &self,
        destination: &Destination,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        started: Instant,
    ) -> Result<Delivered, DeliveryError> {
        let key = (destination.scheme, destination.authority());
        if let Some(connection) = self.checkout(&key).await {
            let request = request(destination, headers, body.clone())?;
            match self.exchange(&key, connection, request, started).await {
                // A receiver may close an idle keep-alive connection just as we reuse it; the
                // request then never got an answer, and goes once more on a new connection.
                Err(ExchangeFailure::NoResponse(error)) => tracing::debug!(
                    destination = %key.1,
                    error = %error_chain(&error),
                    "reused webhook connection closed before answering; retrying on a new one"
                ),
                done => return done.map_err(ExchangeFailure::into_error),
            }
        }
        let connection = self.connect(destination, started).await?;
        let request = request(destination, headers, body)?;
        self.exchange(&key, connection, request, started)
            .await
            .map_err(ExchangeFailure::into_error)
    }

    /// Sends `request` and reads the answer's status and the start of its body.
    async fn exchange(
        &self,
        key: &PoolKey,
        mut connection: Connection,
        request: Request<Full<Bytes>>,
        started: Instant,
    ) -> Result<Delivered, ExchangeFailure> {
        let response = match connection.sender.send_request(request).await {
            Ok(response) => response,
            Err(error) if error.is_canceled() || error.is_incomplete_message() => {
                return Err(ExchangeFailure::NoResponse(error))
            }
            Err(error) => return Err(ExchangeFailure::Failed(DeliveryError::Http { error })),
        };
        let status = response.status().as_u16();
        let receiver_closes = response
            .headers()
            .get(CONNECTION)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
        let mut body = response.into_body();
        let capture_bytes = self.options.response_capture_bytes;
        let mut response_head = Vec::with_capacity(capture_bytes.min(16 << 10));
        let mut ended = false;
        while response_head.len() < capture_bytes {
            match body.frame().await {
                None => {
                    ended = true;
                    break;
                }
                Some(Err(error)) => {
                    return Err(ExchangeFailure::Failed(DeliveryError::Http { error }))
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let take = data.len().min(capture_bytes - response_head.len());
                        response_head.extend_from_slice(&data[..take]);
                    }
                }
            }
        }
        let ended = ended || body.is_end_stream();
        drop(body);
        if ended && !receiver_closes {
            self.checkin(key, connection);
        }
        Ok(Delivered {
            status,
            response_head,
            elapsed: started.elapsed(),
        })
    }

    /// An idle connection to `key` that is still open and ready for a request.
    async fn checkout(&self, key: &PoolKey) -> Option<Connection> {
        loop {
            let mut connection = {
                let mut idle = self.idle.borrow_mut();
                let list = idle.get_mut(key)?;
                let connection = list.pop();
                if list.is_empty() {
                    idle.remove(key);
                }
                connection?
            };
            if connection.sender.is_closed() {
                continue;
            }
            if connection.sender.ready().await.is_ok() {
                return Some(connection);
            }
        }
    }

    fn checkin(&self, key: &PoolKey, connection: Connection) {
        let max = self.options.idle_connections_per_destination_max;
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(key.clone()).or_default();
        if list.len() < max {
            list.push(connection);
        }
        // Otherwise `connection` drops here, which closes it.
    }

    /// A new connection to the first checked address of `destination` that accepts one.
    async fn connect(
        &self,
        destination: &Destination,
        started: Instant,
    ) -> Result<Connection, DeliveryError> {
        let addrs = self.addresses(destination).await?;
        let mut last_error = None;
        for addr in addrs {
            let left = self
                .options
                .request_timeout
                .saturating_sub(started.elapsed());
            let after = self.options.connect_timeout.min(left);
            if after.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(addr, after)
                .await
                .map_err(io::Error::from)
            {
                Ok(stream) => {
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%addr, %error, "TCP_NODELAY on a webhook connection");
                    }
                    return self.start(destination, stream).await;
                }
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                    last_error = Some(DeliveryError::ConnectTimeout { addr, after })
                }
                Err(error) => last_error = Some(DeliveryError::Connect { addr, error }),
            }
        }
        Err(last_error.unwrap_or(DeliveryError::Timeout {
            after: self.options.request_timeout,
        }))
    }

    /// The addresses `destination` may be reached at, in the resolver's order.
    async fn addresses(&self, destination: &Destination) -> Result<Vec<SocketAddr>, DeliveryError> {
        let allow_private = self.options.allow_private_destinations;
        let host = &destination.host;
        if let Some(ip) = destination.host_ip() {
            if !allow_private && is_private(ip) {
                return Err(DeliveryError::PrivateDestination {
                    host: host.clone(),
                    addr: ip,
                });
            }
            return Ok(vec![SocketAddr::new(ip, destination.port)]);
        }
        if !allow_private && refused_name(host) {
            return Err(DeliveryError::LoopbackName { host: host.clone() });
        }
        let lookup = (host.clone(), destination.port);
        let resolved = glommio::executor()
            .spawn_blocking(move || {
                (lookup.0.as_str(), lookup.1)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect::<Vec<_>>())
            })
            .await
            .map_err(|error| DeliveryError::Resolve {
                host: host.clone(),
                error,
            })?;
        let Some(first) = resolved.first().copied() else {
            return Err(DeliveryError::NoAddress { host: host.clone() });
        };
        if allow_private {
            return Ok(resolved);
        }
        let public: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|addr| !is_private(addr.ip()))
            .collect();
        if public.is_empty() {
            return Err(DeliveryError::PrivateDestination {
                host: host.clone(),
                addr: first.ip(),
            });
        }
        Ok(public)
    }

    /// TLS when the destination asks for it, then the HTTP/1.1 handshake.
    async fn start(
        &self,
        destination: &Destination,
        stream: TcpStream,
    ) -> Result<Connection, DeliveryError> {
        match destination.scheme {
            Scheme::Http => handshake(HyperIo::new(stream)).await,
            Scheme::Https => {
                let tls_error = |error| DeliveryError::Tls {
                    host: destination.host.clone(),
                    error,
                };
                let name = server_name(destination).map_err(tls_error)?;
                let tls = futures_rustls::TlsConnector::from(self.tls.clone())
                    .connect(name, stream)
                    .await
                    .map_err(tls_error)?;
                handshake(HyperIo::new(tls)).await
            }
        }
    }
}

/// Reads the PEM certificates of `path` into `roots`.
fn add_ca_file(roots: &mut rustls::RootCertStore, path: &PathBuf) -> Result<(), ClientError> {
    let pem = std::fs::read(path).map_err(|error| ClientError::CaFileUnreadable {
        path: path.clone(),
        error,
    })?;
    let mut count = 0usize;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|error| ClientError::CaFileInvalid {
            path: path.clone(),
            error,
        })?;
        roots
            .add(certificate)
            .map_err(|error| ClientError::CaCertificateRejected {
                path: path.clone(),
                error,
            })?;
        count += 1;
    }
    if count == 0 {
        return Err(ClientError::CaFileEmpty { path: path.clone() });
    }
    Ok(())
}

/// The name the TLS handshake asks for and checks: the host, as an IP address when it is one.
fn server_name(destination: &Destination) -> Result<ServerName<'static>, io::Error> {
    match destination.host_ip() {
        Some(ip) => Ok(ServerName::IpAddress(ip.into())),
        None => ServerName::try_from(destination.host.clone())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error)),
    }
}

/// The HTTP/1.1 handshake on `io`, with the connection driven by its own task.
async fn handshake<S>(io: HyperIo<S>) -> Result<Connection, DeliveryError>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| DeliveryError::Http { error })?;
    let driver = glommio::spawn_local(async move {
        if let Err(error) = connection.await {
            tracing::debug!(error = %error_chain(&error), "webhook connection ended");
        }
    })
    .detach();
    Ok(Connection { sender, driver })
}

/// The POST of `body` to `destination`'s path, with the client's headers over the caller's.
fn request(
    destination: &Destination,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
) -> Result<Request<Full<Bytes>>, DeliveryError> {
    let malformed = |error: http::Error| DeliveryError::RequestMalformed { error };
    let uri = Uri::try_from(destination.path_and_query.as_str())
        .map_err(|error| malformed(error.into()))?;
    let host =
        HeaderValue::try_from(host_header(destination)).map_err(|error| malformed(error.into()))?;
    let content_length = HeaderValue::from(body.len());
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let map = request.headers_mut();
    for (name, value) in headers {
        map.append(name.clone(), value.clone());
    }
    // Framing and connection management are the client's.
    map.remove(TRANSFER_ENCODING);
    map.remove(CONNECTION);
    map.insert(HOST, host);
    map.insert(CONTENT_LENGTH, content_length);
    map.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    Ok(request)
}

/// The `Host` header: the host, and the port unless it is the scheme's default.
fn host_header(destination: &Destination) -> String {
    if destination.port == destination.scheme.default_port() {
        if destination.host.contains(':') {
            format!("[{}]", destination.host)
        } else {
            destination.host.clone()
        }
    } else {
        destination.authority()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Runs `f` on a glommio executor on its own thread, with a small registered-memory budget
    /// (the locked-memory limit on CI machines is 8 MiB).
    fn on_executor<T, F, Fut>(f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
        T: Send + 'static,
    {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(256 << 10)
            .spawn(f)
            .expect("executor")
            .join()
            .expect("join")
    }

    /// What a test receiver does with each request.
    #[derive(Clone)]
    enum Answer {
        /// Answers `status` with `body`, keeping the connection open (`Connection: keep-alive`
        /// and a `Content-Length`), or closing it after the answer.
        Respond {
            status: u16,
            body: Vec<u8>,
            keep_alive: bool,
        },
        /// Reads the request and never answers (holds the connection for a while).
        Silent,
        /// Answers a connection's first request `200` with `Connection: keep-alive`, then reads
        /// the next one and closes the connection without answering: a receiver closing an idle
        /// connection just as the client reuses it.
        OnceThenClose,
    }

    /// What a test receiver saw.
    #[derive(Default)]
    struct Seen {
        connections: AtomicUsize,
        requests: Mutex<Vec<String>>,
    }

    impl Seen {
        fn requests(&self) -> Vec<String> {
            self.requests.lock().expect("lock").clone()
        }
    }

    /// A receiver on 127.0.0.1 answering every connection in its own thread; `wrap` turns the
    /// accepted socket into the stream spoken over (TLS or not).
    fn receiver_with<S, W>(answer: Answer, wrap: W) -> (SocketAddr, Arc<Seen>)
    where
        S: Read + Write,
        W: Fn(std::net::TcpStream) -> Option<S> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let wrap = Arc::new(wrap);
        std::thread::spawn({
            let seen = seen.clone();
            move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    seen.connections.fetch_add(1, Ordering::SeqCst);
                    let (seen, answer, wrap) = (seen.clone(), answer.clone(), wrap.clone());
                    std::thread::spawn(move || {
                        if let Some(mut stream) = wrap(stream) {
                            serve(&mut stream, &answer, &seen);
                        }
                    });
                }
            }
        });
        (addr, seen)
    }

    fn receiver(answer: Answer) -> (SocketAddr, Arc<Seen>) {
        receiver_with(answer, Some)
    }

    /// Serves requests on one connection until the client closes it (or the answer closes it).
    fn serve(stream: &mut impl ReadWrite, answer: &Answer, seen: &Seen) {
        let mut answered = 0usize;
        while let Some(request) = read_request(stream) {
            seen.requests.lock().expect("lock").push(request);
            let once = Answer::Respond {
                status: 200,
                body: b"once".to_vec(),
                keep_alive: true,
            };
            let answer = match answer {
                Answer::OnceThenClose if answered > 0 => return,
                Answer::OnceThenClose => &once,
                other => other,
            };
            answered += 1;
            match answer {
                Answer::Silent => {
                    std::thread::sleep(Duration::from_secs(3));
                    return;
                }
                Answer::OnceThenClose => return,
                Answer::Respond {
                    status,
                    body,
                    keep_alive,
                } => {
                    let connection = if *keep_alive { "keep-alive" } else { "close" };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                        body.len()
                    );
                    let written = stream
                        .write_all(head.as_bytes())
                        .and_then(|()| stream.write_all(body))
                        .and_then(|()| stream.flush());
                    if written.is_err() || !keep_alive {
                        return;
                    }
                }
            }
        }
    }

    trait ReadWrite: Read + Write {}
    impl<T: Read + Write> ReadWrite for T {}

    /// One request (head and `Content-Length` body) as text, or `None` at the end of the
    /// connection.
    fn read_request(stream: &mut impl Read) -> Option<String> {
        let mut bytes = Vec::new();
        let mut byte = [0u8; 1];
        while !bytes.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => bytes.push(byte[0]),
                _ => return None,
            }
        }
        let head = String::from_utf8_lossy(&bytes).to_string();
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).ok()?;
        Some(head + &String::from_utf8_lossy(&body))
    }

    fn http(addr: SocketAddr, path: &str) -> Destination {
        Destination {
            scheme: Scheme::Http,
            host: addr.ip().to_string(),
            port: addr.port(),
            path_and_query: path.to_string(),
        }
    }

    fn allowing_private() -> ClientOptions {
        ClientOptions {
            allow_private_destinations: true,
            request_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        }
    }

    /// Posts `body` once per entry of `bodies` to `destination` with one client.
    fn check(
        options: ClientOptions,
        destination: Destination,
        bodies: Vec<&'static str>,
    ) -> Vec<Result<Delivered, DeliveryError>> {
        on_executor(move || async move {
            let client = Client::new(options).expect("client");
            let headers = [(
                HeaderName::from_static("webhook-id"),
                HeaderValue::from_static("evt_1"),
            )];
            let mut results = Vec::new();
            for body in bodies {
                results.push(
                    client
                        .post(&destination, &headers, Bytes::from_static(body.as_bytes()))
                        .await,
                );
            }
            results
        })
    }

    fn respond(status: u16, body: &[u8]) -> Answer {
        Answer::Respond {
            status,
            body: body.to_vec(),
            keep_alive: true,
        }
    }

    #[test]
    fn a_200_is_delivered_with_its_body_captured() {
        let (addr, seen) = receiver(respond(200, b"thanks"));
        let results = check(
            allowing_private(),
            http(addr, "/hook?x=1"),
            vec![r#"{"a":1}"#],
        );
        let delivered = results[0].as_ref().expect("delivered");
        assert_eq!(delivered.status, 200);
        assert_eq!(delivered.response_head, b"thanks");
        let requests = seen.requests();
        assert_eq!(requests.len(), 1);
        let request = requests[0].to_ascii_lowercase();
        assert!(
            request.starts_with("post /hook?x=1 http/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nhost: {addr}\r\n")),
            "{request}"
        );
        assert!(request.contains("\r\ncontent-length: 7\r\n"), "{request}");
        assert!(
            request.contains(&format!(
                "\r\nuser-agent: berth-webhook/{}\r\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{request}"
        );
        assert!(request.contains("\r\nwebhook-id: evt_1\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n{\"a\":1}"), "{request}");
    }

    #[test]
    fn a_500_is_an_answer_not_an_error() {
        let (addr, _seen) = receiver(respond(500, b"boom"));
        let results = check(allowing_private(), http(addr, "/"), vec!["{}"]);
        let delivered = results[0].as_ref().expect("an answer");
        assert_eq!(delivered.status, 500);
        assert_eq!(delivered.response_head, b"boom");
    }

    #[test]
    fn a_long_body_is_cut_at_the_capture_limit_and_its_connection_not_reused() {
        let long: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let (addr, seen) = receiver(respond(200, &long));
        let options = ClientOptions {
            response_capture_bytes: 100,
            ..allowing_private()
        };
        let results = check(options, http(addr, "/"), vec!["{}", "{}"]);
        for result in &results {
            let delivered = result.as_ref().expect("delivered");
            assert_eq!(delivered.response_head, &long[..100]);
        }
        // The first body was not read to its end, so the second post needed a new connection.
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn keep_alive_connections_are_reused() {
        let (addr, seen) = receiver(respond(204, b""));
        let results = check(allowing_private(), http(addr, "/"), vec!["1", "2", "3"]);
        for result in &results {
            assert_eq!(result.as_ref().expect("delivered").status, 204);
        }
        assert_eq!(seen.requests().len(), 3);
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_connection_the_receiver_closes_is_not_reused() {
        let (addr, seen) = receiver(Answer::Respond {
            status: 200,
            body: b"ok".to_vec(),
            keep_alive: false,
        });
        let results = check(allowing_private(), http(addr, "/"), vec!["1", "2"]);
        for result in &results {
            assert_eq!(result.as_ref().expect("delivered").status, 200);
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_reused_connection_closed_before_answering_is_retried_once_on_a_new_one() {
        let (addr, seen) = receiver(Answer::OnceThenClose);
        let results = check(allowing_private(), http(addr, "/"), vec!["1", "2"]);
        for result in &results {
            assert_eq!(result.as_ref().expect("delivered").status, 200);
        }
        // "1" on the first connection; "2" on it (unanswered), then on a second connection.
        let bodies: Vec<String> = seen
            .requests()
            .iter()
            .map(|request| request.rsplit("\r\n\r\n").next().unwrap_or("").to_string())
            .collect();
        assert_eq!(bodies, ["1", "2", "2"]);
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_receiver_that_never_answers_times_out() {
        let (addr, seen) = receiver(Answer::Silent);
        let options = ClientOptions {
            request_timeout: Duration::from_millis(300),
            ..allowing_private()
        };
        let started = Instant::now();
        let results = check(options, http(addr, "/"), vec!["{}"]);
        let elapsed = started.elapsed();
        match &results[0] {
            Err(DeliveryError::Timeout { after }) => {
                assert_eq!(*after, Duration::from_millis(300))
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(seen.requests().len(), 1);
    }

    #[test]
    fn a_closed_port_is_a_connect_error() {
        let addr = {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            listener.local_addr().expect("addr")
        };
        let results = check(allowing_private(), http(addr, "/"), vec!["{}"]);
        match &results[0] {
            Err(DeliveryError::Connect { addr: tried, error }) => {
                assert_eq!(*tried, addr);
                assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
    }

    #[test]
    fn private_destinations_are_refused_without_connecting() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let refusing = ClientOptions::default();
        let results = check(refusing.clone(), http(addr, "/"), vec!["{}"]);
        match &results[0] {
            Err(error @ DeliveryError::PrivateDestination { host, addr: ip }) => {
                assert_eq!(host, "127.0.0.1");
                assert_eq!(*ip, addr.ip());
                assert!(error
                    .to_string()
                    .contains("set webhooks.allow_private_destinations = true"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let by_name = Destination {
            host: "localhost".into(),
            ..http(addr, "/")
        };
        let results = check(refusing, by_name, vec!["{}"]);
        assert!(
            matches!(&results[0], Err(DeliveryError::LoopbackName { host }) if host == "localhost"),
            "{:?}",
            results[0]
        );
        std::thread::sleep(Duration::from_millis(50));
        match listener.accept() {
            Err(error) => assert_eq!(error.kind(), io::ErrorKind::WouldBlock),
            Ok((_, peer)) => panic!("a refused destination was connected to from {peer}"),
        }
    }

    /// `localhost` resolves (on the blocking pool) to `::1` and `127.0.0.1` on most systems;
    /// the receiver listens on the IPv4 one only, so this also checks that the addresses are
    /// tried in turn.
    #[test]
    fn names_are_resolved_when_private_destinations_are_allowed() {
        let (addr, seen) = receiver(respond(200, b"ok"));
        let by_name = Destination {
            host: "localhost".into(),
            ..http(addr, "/")
        };
        let results = check(allowing_private(), by_name, vec!["{}"]);
        assert_eq!(results[0].as_ref().expect("delivered").status, 200);
        let requests = seen.requests();
        assert!(
            requests[0]
                .to_ascii_lowercase()
                .contains(&format!("\r\nhost: localhost:{}\r\n", addr.port())),
            "{}",
            requests[0]
        );
    }

    /// A CA, and a server certificate for 127.0.0.1 it signed: (CA PEM, server config).
    fn tls_fixture() -> (String, Arc<rustls::ServerConfig>) {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Berth webhook test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        let server = server_params
            .signed_by(&server_key, &ca, &ca_key)
            .expect("server certificate");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![server.der().clone()], key)
            .expect("server config");
        (ca.pem(), Arc::new(config))
    }

    fn tls_receiver(config: Arc<rustls::ServerConfig>) -> (SocketAddr, Arc<Seen>) {
        receiver_with(respond(200, b"over tls"), move |tcp| {
            let connection = rustls::ServerConnection::new(config.clone()).ok()?;
            Some(rustls::StreamOwned::new(connection, tcp))
        })
    }

    #[test]
    fn https_with_the_extra_ca_is_delivered_over_tls() {
        let (ca_pem, config) = tls_fixture();
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("write CA");
        let (addr, seen) = tls_receiver(config);
        let destination = Destination {
            scheme: Scheme::Https,
            ..http(addr, "/tls")
        };
        let options = ClientOptions {
            extra_ca_file: Some(ca_file),
            ..allowing_private()
        };
        let results = check(options, destination, vec!["1", "2"]);
        for result in &results {
            let delivered = result.as_ref().expect("delivered");
            assert_eq!(delivered.status, 200);
            assert_eq!(delivered.response_head, b"over tls");
        }
        let requests = seen.requests();
        assert_eq!(requests.len(), 2);
        assert!(
            requests[0].starts_with("POST /tls HTTP/1.1\r\n"),
            "{}",
            requests[0]
        );
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn https_without_the_ca_fails_its_tls_check() {
        let (_ca_pem, config) = tls_fixture();
        let (addr, seen) = tls_receiver(config);
        let destination = Destination {
            scheme: Scheme::Https,
            ..http(addr, "/")
        };
        let results = check(allowing_private(), destination, vec!["{}"]);
        match &results[0] {
            Err(error @ DeliveryError::Tls { host, .. }) => {
                assert_eq!(host, "127.0.0.1");
                assert!(error.to_string().contains("certificate"), "{error}");
            }
            other => panic!("expected a TLS error, got {other:?}"),
        }
        assert!(seen.requests().is_empty());
    }

    #[test]
    fn ca_file_problems_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").expect("write");
        for (path, expected) in [(missing, "cannot read"), (empty, "holds no certificates")] {
            let options = ClientOptions {
                extra_ca_file: Some(path.clone()),
                ..ClientOptions::default()
            };
            let error = match Client::new(options) {
                Err(error) => error.to_string(),
                Ok(_) => panic!("{} was accepted", path.display()),
            };
            assert!(error.contains(expected), "{error}");
            assert!(error.contains(&path.display().to_string()), "{error}");
        }
    }
}
