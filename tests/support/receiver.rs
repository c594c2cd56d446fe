//! A webhook receiver for tests: an HTTP/1.1 server on 127.0.0.1 in its own threads that
//! records every request it gets and answers as the test says (a status, after a delay, or
//! never). Keep-alive connections are served until the client closes them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// The status after a delay.
    Slow(u16, Duration),
    /// Reads the request and never answers.
    Hang,
}

#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Receiver {
    pub fn start(answer: Answer) -> Receiver {
        Receiver::start_on(0, answer)
    }

    /// A receiver on a given port of 127.0.0.1 (0: any free one).
    pub fn start_on(port: u16, answer: Answer) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let receiver = Receiver {
            addr,
            received: Arc::default(),
            answer: Arc::new(Mutex::new(answer)),
        };
        let shared = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || shared.serve(stream));
            }
        });
        receiver
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_answer(&self, answer: Answer) {
        *self.answer.lock().expect("lock") = answer;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn serve(&self, stream: TcpStream) {
        let mut writer = match stream.try_clone() {
            Ok(w) => w,
            Err(_) => return,
        };
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let mut headers = HashMap::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            self.received.lock().expect("lock").push(Received {
                method,
                path,
                headers,
                body,
            });
            let answer = *self.answer.lock().expect("lock");
            let status = match answer {
                Answer::Status(status) => status,
                Answer::Slow(status, delay) => {
                    std::thread::sleep(delay);
                    status
                }
                Answer::Hang => {
                    // Hold the connection open without a word until the client gives up.
                    let mut sink = [0u8; 1];
                    let _ = reader.read(&mut sink);
                    return;
                }
            };
            let body = format!("{{\"received\":{status}}}");
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    }
}
