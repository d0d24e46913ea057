//! https receivers for tests: certificates made by the `openssl` command
//! line (Debian package openssl) and a blocking HTTP/1.1 server, plain or
//! TLS (rustls), one request per connection. Shared by api_cli's webhook
//! tests and the webhook module's unit tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command (Debian package openssl; scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a CA in `dir` (`ca.pem`, `ca.key`); returns the path of `ca.pem`.
pub fn make_ca(dir: &Path) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=camrec test CA",
        ],
    );
    dir.join("ca.pem")
}

/// A server certificate signed by the CA of [`make_ca`] in `dir`, for the
/// subject alternative names `sans` (e.g. "IP:127.0.0.1,DNS:localhost"),
/// as a TLS server's settings. `name` names its files.
pub fn server_config(dir: &Path, name: &str, sans: &str) -> Arc<rustls::ServerConfig> {
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    std::fs::write(
        dir.join(&ext),
        format!("subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=camrec test server",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ],
    );
    let chain = CertificateDer::pem_file_iter(dir.join(&pem))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(&key)).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// Serves HTTP/1.1 on 127.0.0.1, over TLS with `tls`: every request's body
/// goes to `answer`, whose status line ("200 OK") is sent back. Connections
/// whose handshake or request fails are dropped without calling it.
pub fn serve(
    tls: Option<Arc<rustls::ServerConfig>>,
    mut answer: impl FnMut(Vec<u8>) -> &'static str + Send + 'static,
) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            match &tls {
                Some(cfg) => {
                    let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                    one_request(rustls::StreamOwned::new(conn, s), &mut answer);
                }
                None => one_request(s, &mut answer),
            }
        }
    });
    addr
}

fn one_request(s: impl Read + Write, answer: &mut impl FnMut(Vec<u8>) -> &'static str) {
    let mut r = BufReader::new(s);
    let mut len = 0;
    let mut line = String::new();
    let mut head = false;
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head = true,
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    if !head || r.read_exact(&mut body).is_err() {
        return;
    }
    let status = answer(body);
    let s = r.get_mut();
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = s.flush();
}
