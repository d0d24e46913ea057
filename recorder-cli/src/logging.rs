//! Log output: readable on a terminal, JSON otherwise (or when asked).
//!
//! While the live status view owns the terminal (see `status_view`), log
//! lines must not scroll it away: warnings and errors are kept in a small
//! ring shown under the table, and everything else goes to `--log-file`
//! (or is dropped when there is none). When the view stops, logging goes
//! back to stderr.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter, MakeWriterExt};
use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON when stderr is not a terminal.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Whether this resolves to JSON here.
    pub fn is_json(self) -> bool {
        match self {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => !std::io::stderr().is_terminal(),
        }
    }
}

/// The last warnings and errors, for the status view.
#[derive(Clone, Debug, Default)]
pub struct LogTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    capturing: Arc<AtomicBool>,
}

const TAIL_LINES: usize = 5;

impl LogTail {
    /// Starts (true) or stops (false) keeping lines instead of printing.
    pub fn set_capturing(&self, on: bool) {
        self.capturing.store(on, Ordering::SeqCst);
    }
    /// The last few warnings/errors, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
    fn push(&self, text: &str) {
        let mut l = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if l.len() == TAIL_LINES {
                l.pop_front();
            }
            l.push_back(line.to_string());
        }
    }
}

/// Writer for one event while the view may be on.
pub enum ViewSink {
    /// Normal: straight to stderr.
    Stderr(std::io::Stderr),
    /// Captured for the view.
    Tail(Vec<u8>, LogTail),
    /// Not shown (info and below while the view is on).
    Discard,
}

impl Write for ViewSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ViewSink::Stderr(s) => s.write(buf),
            ViewSink::Tail(b, _) => {
                b.extend_from_slice(buf);
                Ok(buf.len())
            }
            ViewSink::Discard => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ViewSink::Stderr(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

impl Drop for ViewSink {
    fn drop(&mut self) {
        if let ViewSink::Tail(b, tail) = self {
            tail.push(&String::from_utf8_lossy(b));
        }
    }
}

#[derive(Clone)]
struct ViewWriter(LogTail);

impl<'a> MakeWriter<'a> for ViewWriter {
    type Writer = ViewSink;
    fn make_writer(&'a self) -> ViewSink {
        if self.0.capturing.load(Ordering::SeqCst) {
            ViewSink::Tail(Vec::new(), self.0.clone())
        } else {
            ViewSink::Stderr(std::io::stderr())
        }
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> ViewSink {
        if !self.0.capturing.load(Ordering::SeqCst) {
            ViewSink::Stderr(std::io::stderr())
        } else if *meta.level() <= Level::WARN {
            ViewSink::Tail(Vec::new(), self.0.clone())
        } else {
            ViewSink::Discard
        }
    }
}

/// Sets up logging. With `view`, returns the tail the status view shows
/// (capturing starts when the view calls [`LogTail::set_capturing`]).
/// `log_file` receives every line as well (created or appended to).
pub fn init(
    format: LogFormat,
    verbose: u8,
    view: bool,
    log_file: Option<&Path>,
) -> std::io::Result<Option<LogTail>> {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = format.is_json();
    let file = match log_file {
        Some(p) => Some(Arc::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        )),
        None => None,
    };
    let tail = view.then(LogTail::default);
    let writer: BoxMakeWriter = match (&file, &tail) {
        (Some(f), Some(t)) => BoxMakeWriter::new(f.clone().and(ViewWriter(t.clone()))),
        (Some(f), None) => BoxMakeWriter::new(f.clone()),
        (None, Some(t)) => BoxMakeWriter::new(ViewWriter(t.clone())),
        (None, None) => BoxMakeWriter::new(std::io::stderr),
    };
    let ansi = file.is_none() && tail.is_none() && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(ansi).with_target(!view).init();
    }
    Ok(tail)
}
