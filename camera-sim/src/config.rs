//! Simulator configuration: mounts, media sources, credentials.

use std::path::PathBuf;

use bytes::Bytes;

use crate::faults::Faults;

/// Where a mount's MP4 comes from.
#[derive(Debug, Clone)]
pub enum MediaSource {
    /// A file on disk, read once at [`crate::Simulator::start`].
    Path(PathBuf),
    /// An MP4 already in memory.
    Bytes(Bytes),
}

impl From<PathBuf> for MediaSource {
    fn from(p: PathBuf) -> Self {
        MediaSource::Path(p)
    }
}

impl From<&std::path::Path> for MediaSource {
    fn from(p: &std::path::Path) -> Self {
        MediaSource::Path(p.to_owned())
    }
}

impl From<Bytes> for MediaSource {
    fn from(b: Bytes) -> Self {
        MediaSource::Bytes(b)
    }
}

impl From<&'static [u8]> for MediaSource {
    fn from(b: &'static [u8]) -> Self {
        MediaSource::Bytes(Bytes::from_static(b))
    }
}

impl From<Vec<u8>> for MediaSource {
    fn from(b: Vec<u8>) -> Self {
        MediaSource::Bytes(Bytes::from(b))
    }
}

/// How the server challenges clients when credentials are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// `WWW-Authenticate: Basic`.
    Basic,
    /// `WWW-Authenticate: Digest` with MD5 and a random nonce.
    #[default]
    Digest,
}

/// Username and password that every request except `OPTIONS` must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username.
    pub user: String,
    /// The password.
    pub password: String,
    /// Challenge scheme.
    pub mode: AuthMode,
}

/// One RTSP path served as a camera.
#[derive(Debug, Clone)]
pub struct MountConfig {
    pub(crate) path: String,
    pub(crate) source: MediaSource,
    pub(crate) sps_change_source: Option<MediaSource>,
    pub(crate) faults: Faults,
}

impl MountConfig {
    /// Serves `source` at `path` (e.g. `"/stream1"`; a missing leading slash is added).
    pub fn new(path: impl Into<String>, source: impl Into<MediaSource>) -> Self {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        while path.len() > 1 && path.ends_with('/') {
            path.pop();
        }
        Self {
            path,
            source: source.into(),
            sps_change_source: None,
            faults: Faults::default(),
        }
    }

    /// Serves the built-in [`crate::DEMO_MP4`] clip at `path`.
    pub fn demo(path: impl Into<String>) -> Self {
        Self::new(path, crate::DEMO_MP4)
    }

    /// Sets the fault knobs.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The second clip served after [`Faults::sps_change_after`]; it should
    /// use the same codec with a different SPS (e.g. another resolution).
    pub fn sps_change_source(mut self, source: impl Into<MediaSource>) -> Self {
        self.sps_change_source = Some(source.into());
        self
    }

    /// The normalized mount path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Everything a [`crate::Simulator`] serves.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    pub(crate) mounts: Vec<MountConfig>,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) session_timeout: Option<u32>,
}

impl SimConfig {
    /// An empty configuration; add mounts with [`SimConfig::mount`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A configuration serving the demo clip at `/stream1`.
    pub fn demo() -> Self {
        Self::new().mount(MountConfig::demo("/stream1"))
    }

    /// Adds a mount.
    pub fn mount(mut self, mount: MountConfig) -> Self {
        self.mounts.push(mount);
        self
    }

    /// The `timeout=` advertised in `Session` headers (default 60 s).
    /// Clients send keepalives at about half of it, so a short timeout makes
    /// keepalive faults show up quickly in tests. It is only advertised:
    /// sessions live as long as their connection.
    pub fn session_timeout(mut self, secs: u32) -> Self {
        self.session_timeout = Some(secs);
        self
    }

    /// Requires these credentials on every request except `OPTIONS`.
    pub fn credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
        mode: AuthMode,
    ) -> Self {
        self.credentials = Some(Credentials {
            user: user.into(),
            password: password.into(),
            mode,
        });
        self
    }
}
