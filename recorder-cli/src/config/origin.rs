//! Where a value came from ([`Origin`]), values that remember it ([`Val`]),
//! and errors that point there.

use std::fmt;
use std::path::PathBuf;

/// Where an effective value was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built-in default.
    Default,
    /// The config file, 1-based line and column.
    File {
        /// Path as given.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
    },
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line, col } => write!(f, "{}:{line}:{col}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A value and where it was set.
#[derive(Clone, Debug, PartialEq)]
pub struct Val<T> {
    /// The value.
    pub v: T,
    /// Where it was set.
    pub at: Origin,
}

impl<T> Val<T> {
    pub(crate) fn default(v: T) -> Self {
        Val {
            v,
            at: Origin::Default,
        }
    }
    /// Takes `v` when given (a later source wins over an earlier one).
    pub(crate) fn put(&mut self, v: Option<Val<T>>) {
        if let Some(v) = v {
            *self = v;
        }
    }
    pub(crate) fn set(&mut self, v: T, at: Origin) {
        self.v = v;
        self.at = at;
    }
}

/// One problem with the configuration: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the bad value was set.
    pub at: Origin,
    /// What is wrong (never contains a secret).
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}\n    fix: {}", self.at, self.message, self.fix)
    }
}

/// Every problem found (validation does not stop at the first one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(crate) fn err(at: &Origin, message: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError {
        at: at.clone(),
        message: message.into(),
        fix: fix.into(),
    }
}

/// `url` as shown to people: the password and every query value masked
/// (webhook receivers often take their key as `?token=...`).
pub fn scrub_url_secrets(url: &url::Url) -> String {
    let mut u = url.clone();
    if u.query().is_some() {
        let masked: Vec<(String, &str)> = url
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "***"))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(masked);
    }
    scrub_userinfo(u.as_str())
}

/// Masks the password of anything that looks like `scheme://user:pass@host`
/// in `text` (for messages from other libraries that may quote a value).
pub fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'' || c == '`')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        } else {
            out.push_str(authority);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
