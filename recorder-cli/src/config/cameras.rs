//! The camera list: file entries, then `CAMERAn_*` / `CAMERA_n_*`
//! variables, then URLs on the command line; ids, per-camera overrides of
//! the global settings, and what the camera should deliver.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use recorder_core::source::{CameraUrl, Transport};

use super::env::{self, Env};
use super::file::{FileConfig, FileCtx};
use super::limits::{self as duration_arg, Bounds};
use super::origin::{err, ConfigError, Origin, Val};
use super::retention::{file_age, file_size, Retention};
use super::settings::Globals;
use super::Flags;

/// A picture size, `2560x1440`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl std::str::FromStr for Resolution {
    type Err = ();

    /// `2560x1440` (also `2560X1440`, `2560×1440`).
    fn from_str(s: &str) -> Result<Self, ()> {
        let (w, h) = s.trim().split_once(['x', 'X', '×']).ok_or(())?;
        let dim = |d: &str| {
            d.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=16384).contains(n))
        };
        Ok(Resolution {
            width: dim(w).ok_or(())?,
            height: dim(h).ok_or(())?,
        })
    }
}

/// One camera, after defaults and overrides.
#[derive(Clone, Debug)]
pub struct Camera {
    /// Id: names folders, files and metric labels.
    pub id: Val<String>,
    /// Display name.
    pub name: Val<Option<String>>,
    /// URL (credentials kept apart; prints redacted).
    pub url: Val<CameraUrl>,
    /// Whether it is recorded.
    pub enabled: Val<bool>,
    /// RTP transport.
    pub transport: Val<Transport>,
    /// Silence before reconnecting.
    pub stall_timeout: Val<Duration>,
    /// Target segment length.
    pub segment: Val<Duration>,
    /// Longest fragment.
    pub fragment: Val<Duration>,
    /// Align segments to wall-clock multiples of `segment`.
    pub align: Val<bool>,
    /// The picture size the camera should deliver (`resolution`); camrec
    /// records what comes and warns when it differs.
    pub expected_resolution: Val<Option<Resolution>>,
    /// The frame rate the camera should deliver (`fps`).
    pub expected_fps: Val<Option<f64>>,
    /// Maximum age of its segments (its own `retention_max_age`, else
    /// `[retention] max_age`).
    pub retention_max_age: Val<Option<Duration>>,
    /// Maximum bytes of its segments (`retention_max_bytes`, else
    /// `[retention] max_bytes`).
    pub retention_max_bytes: Val<Option<u64>>,
}

impl Camera {
    /// A warning when the camera delivers something else than configured
    /// (`resolution`, `fps`), for the host to log and show in its status;
    /// `None` when it matches or nothing was configured. A frame rate
    /// within 10 % (at least 1 fps) of the configured one matches: rates
    /// measured over a few seconds wobble.
    pub fn delivery_mismatch(
        &self,
        delivered: Option<Resolution>,
        fps: Option<f64>,
    ) -> Option<String> {
        let mut parts = Vec::new();
        if let (Some(want), Some(got)) = (self.expected_resolution.v, delivered) {
            if want != got {
                parts.push(format!("resolution {got} (configured {want})"));
            }
        }
        if let (Some(want), Some(got)) = (self.expected_fps.v, fps) {
            if (want - got).abs() > (want * 0.1).max(1.0) {
                parts.push(format!("{got:.1} fps (configured {want})"));
            }
        }
        (!parts.is_empty()).then(|| {
            format!(
                "camera {:?} delivers {}; camrec records the stream as it comes: change the camera's encoder settings or the configuration",
                self.id.v,
                parts.join(" and ")
            )
        })
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !id.starts_with('.')
}

/// A file-safe id from free text (a camera name) or a URL's host and path.
pub fn slug(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut out = String::new();
    for c in s.chars() {
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').chars().take(64).collect()
}

/// A camera id from its URL: host and path (as earlier versions derived
/// it, so folders of existing setups keep their names), without the
/// credential-like path parameters some cameras take
/// (`/user=admin&password=X&channel=1`): the id names folders, files, S3
/// keys and metric labels, none of which may hold a secret.
pub fn camera_id_from_url(url: &CameraUrl) -> String {
    let u = url.url();
    let raw = format!("{}{}", u.host_str().unwrap_or("camera"), url.public_path());
    let id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    id.trim_matches('-').chars().take(64).collect()
}

/// Minutes from the file: None for negative or NaN; a value too large for a
/// `Duration` saturates (and then fails the setting's range check).
pub(super) fn minutes(m: f64) -> Option<Duration> {
    seconds(m * 60.0)
}

/// Seconds from the file, as [`minutes`].
pub(super) fn seconds(s: f64) -> Option<Duration> {
    (s >= 0.0).then(|| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
}

/// A camera entry during merging (URL still text).
struct RawCamera {
    id: Option<Val<String>>,
    name: Val<Option<String>>,
    url: Option<Val<String>>,
    enabled: Val<bool>,
    transport: Option<Val<String>>,
    stall_timeout: Option<Val<Option<Duration>>>,
    segment: Option<Val<Option<Duration>>>,
    fragment: Option<Val<Option<Duration>>>,
    align: Option<Val<bool>>,
    resolution: Option<Val<String>>,
    fps: Option<Val<f64>>,
    retention_max_age: Option<Val<String>>,
    retention_max_bytes: Option<Val<String>>,
    /// Where the entry starts (for "missing url" and similar).
    at: Origin,
}

impl RawCamera {
    fn new(url: Option<Val<String>>, at: Origin) -> Self {
        RawCamera {
            id: None,
            name: Val::default(None),
            url,
            enabled: Val::default(true),
            transport: None,
            stall_timeout: None,
            segment: None,
            fragment: None,
            align: None,
            resolution: None,
            fps: None,
            retention_max_age: None,
            retention_max_bytes: None,
            at,
        }
    }
}

/// Merges the camera list and checks every camera.
pub(super) fn build(
    file: &FileConfig,
    cx: &FileCtx<'_>,
    env: &Env,
    flags: &Flags,
    g: &Globals,
    retention: &Retention,
    errors: &mut Vec<ConfigError>,
) -> Vec<Camera> {
    let mut raw: Vec<RawCamera> = file
        .cameras
        .iter()
        .map(|c| {
            let e = c.get_ref();
            RawCamera {
                id: cx.map(&e.id, |v| v),
                name: cx.map(&e.name, Some).unwrap_or(Val::default(None)),
                url: cx.map(&e.url, |v| v),
                enabled: cx.map(&e.enabled, |v| v).unwrap_or(Val::default(true)),
                transport: cx.map(&e.transport, |v| v),
                stall_timeout: cx.map(&e.stall_timeout_seconds, seconds),
                segment: cx.map(&e.segment_duration_minutes, minutes),
                fragment: cx.map(&e.fragment_seconds, seconds),
                align: cx.map(&e.align_to_clock, |v| v),
                resolution: cx.map(&e.resolution, |v| v),
                fps: cx.map(&e.fps, |v| v),
                retention_max_age: cx.map(&e.retention_max_age, |v| v),
                retention_max_bytes: cx.map(&e.retention_max_bytes, |v| v),
                at: cx.at(c.span().start),
            }
        })
        .collect();
    apply_env_cameras(&mut raw, env, errors);
    // A flag sets the value for every camera, per-camera keys included.
    for r in &mut raw {
        if flags.segment.is_some() {
            r.segment = None;
        }
        if flags.fragment.is_some() {
            r.fragment = None;
        }
        if flags.align {
            r.align = None;
        }
        if flags.transport.is_some() {
            r.transport = None;
        }
        if flags.stall_timeout.is_some() {
            r.stall_timeout = None;
        }
        if flags.retention.max_age.is_some() {
            r.retention_max_age = None;
        }
        if flags.retention.max_bytes.is_some() {
            r.retention_max_bytes = None;
        }
    }
    if !flags.urls.is_empty() {
        raw = flag_cameras(flags, errors);
    }
    let cameras: Vec<Camera> = raw
        .into_iter()
        .filter_map(|r| check_camera(r, g, retention, errors))
        .collect();
    let mut seen: BTreeMap<&str, &Origin> = BTreeMap::new();
    for c in &cameras {
        if let Some(first) = seen.insert(c.id.v.as_str(), &c.id.at) {
            errors.push(err(
                &c.id.at,
                format!("camera id {:?} is used twice (first at {first})", c.id.v),
                "give every camera a distinct id = \"...\" (ids name folders and metrics)",
            ));
        }
    }
    cameras
}

fn flag_cameras(flags: &Flags, errors: &mut Vec<ConfigError>) -> Vec<RawCamera> {
    if !flags.camera_ids.is_empty() && flags.camera_ids.len() != flags.urls.len() {
        errors.push(err(
            &Origin::Flag("--camera-id".into()),
            format!(
                "{} --camera-id values for {} URLs",
                flags.camera_ids.len(),
                flags.urls.len()
            ),
            "give one --camera-id per URL, in the same order (or none)",
        ));
    }
    flags
        .urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let at = Origin::Flag(format!("URL #{}", i + 1));
            let mut r = RawCamera::new(
                Some(Val {
                    v: u.clone(),
                    at: at.clone(),
                }),
                at,
            );
            r.id = flags.camera_ids.get(i).map(|id| Val {
                v: id.clone(),
                at: Origin::Flag("--camera-id".into()),
            });
            r
        })
        .collect()
}

/// Camera n (1-based) of the environment overrides the n-th `[[cameras]]`
/// entry of the file, or adds a camera after them.
fn apply_env_cameras(raw: &mut Vec<RawCamera>, env: &Env, errors: &mut Vec<ConfigError>) {
    for c in env::cameras(env, errors) {
        if let Some(existing) = raw.get_mut(c.n - 1) {
            if let Some(u) = c.url {
                existing.url = Some(u);
            }
            if let Some(name) = c.name {
                existing.name = Val {
                    v: Some(name.v),
                    at: name.at,
                };
            }
            if let Some(id) = c.id {
                existing.id = Some(id);
            }
        } else if let Some(u) = c.url {
            let mut r = RawCamera::new(Some(u.clone()), u.at.clone());
            r.id = match (c.id, &c.name) {
                (Some(id), _) => Some(id),
                // A name gives the id (its slug).
                (None, Some(_)) => None,
                (None, None) => Some(Val {
                    v: format!("camera{}", c.n),
                    at: u.at,
                }),
            };
            if let Some(name) = c.name {
                r.name = Val {
                    v: Some(name.v),
                    at: name.at,
                };
            }
            raw.push(r);
        }
    }
}

fn check_camera(
    r: RawCamera,
    g: &Globals,
    retention: &Retention,
    errors: &mut Vec<ConfigError>,
) -> Option<Camera> {
    let url = match &r.url {
        None => {
            errors.push(err(
                &r.at,
                "this camera has no url",
                "add url = \"rtsp://user:password@host:554/path\" (or set CAMERAn_RTSP_URL / CAMERA_n_URL)",
            ));
            return None;
        }
        Some(u) => match CameraUrl::parse(&u.v) {
            Ok(p) => Val {
                v: p,
                at: u.at.clone(),
            },
            Err(e) => {
                errors.push(err(
                    &u.at,
                    e.to_string(),
                    "write the camera's RTSP URL as rtsp://user:password@host:554/path; percent-encode special characters in the password (@ as %40, : as %3A)",
                ));
                return None;
            }
        },
    };
    let id = match r.id {
        Some(id) => id,
        None => Val {
            v: match &r.name.v {
                Some(n) if !slug(n).is_empty() => slug(n),
                _ => camera_id_from_url(&url.v),
            },
            at: Origin::Default,
        },
    };
    if !valid_id(&id.v) {
        errors.push(err(
            &id.at,
            format!("camera id {:?} cannot name a folder", id.v),
            "use 1-64 letters, digits, '-', '_' or '.', e.g. id = \"front-door\"",
        ));
    }
    let transport = match r.transport {
        Some(t) => match t.v.parse::<Transport>() {
            Ok(p) => Val { v: p, at: t.at },
            Err(e) => {
                errors.push(err(
                    &t.at,
                    e.to_string(),
                    "write \"tcp\" (default) or \"udp\"",
                ));
                g.transport.clone()
            }
        },
        None => g.transport.clone(),
    };
    let seg = r.segment.unwrap_or_else(|| g.segment.clone());
    let frag = r.fragment.unwrap_or_else(|| g.fragment.clone());
    let st = r.stall_timeout.unwrap_or_else(|| g.stall.clone());
    let seg_v = check_duration(
        &seg,
        "segment duration",
        duration_arg::SEGMENT,
        "set segment_duration_minutes to a positive number of minutes, e.g. 15 (0.5 = 30 s); from 1 s to 24 h (1440)",
        errors,
    );
    let frag_v = check_duration(
        &frag,
        "fragment duration",
        duration_arg::FRAGMENT,
        "set fragment_seconds to a positive number, e.g. 1; from 0.1 to 60",
        errors,
    );
    let st_v = check_duration(
        &st,
        "stall timeout",
        duration_arg::STALL_TIMEOUT,
        "set stall_timeout_seconds to e.g. 10; from 1 to 3600",
        errors,
    );
    if let (Some(s), Some(f)) = (seg_v, frag_v) {
        if f > s {
            errors.push(err(
                &frag.at,
                format!(
                    "camera {:?}: fragment ({} s) is longer than the segment ({} s)",
                    id.v,
                    secs(f),
                    secs(s)
                ),
                "make fragment_seconds at most the segment duration (1 s is a good fragment length)",
            ));
        }
    }
    let expected_resolution = match r.resolution {
        None => Val::default(None),
        Some(res) => match res.v.parse::<Resolution>() {
            Ok(p) => Val {
                v: Some(p),
                at: res.at,
            },
            Err(()) => {
                errors.push(err(
                    &res.at,
                    format!("{:?} is not a resolution", res.v),
                    "write WIDTHxHEIGHT, e.g. resolution = \"2560x1440\" (or leave it out)",
                ));
                Val::default(None)
            }
        },
    };
    let expected_fps = match r.fps {
        None => Val::default(None),
        Some(f) if f.v.is_finite() && f.v > 0.0 && f.v <= 1000.0 => Val {
            v: Some(f.v),
            at: f.at,
        },
        Some(f) => {
            errors.push(err(
                &f.at,
                format!("{} is not a frame rate", f.v),
                "write the frames per second the camera sends, e.g. fps = 15 (or leave it out)",
            ));
            Val::default(None)
        }
    };
    let retention_max_age = file_age(r.retention_max_age, "retention_max_age", errors)
        .unwrap_or_else(|| retention.max_age.clone());
    let retention_max_bytes = file_size(r.retention_max_bytes, "retention_max_bytes", errors)
        .unwrap_or_else(|| retention.max_bytes.clone());
    Some(Camera {
        id,
        name: r.name,
        url,
        enabled: r.enabled,
        transport,
        stall_timeout: Val {
            v: st_v.unwrap_or_default(),
            at: st.at,
        },
        segment: Val {
            v: seg_v.unwrap_or_default(),
            at: seg.at,
        },
        fragment: Val {
            v: frag_v.unwrap_or_default(),
            at: frag.at,
        },
        align: r.align.unwrap_or_else(|| g.align.clone()),
        expected_resolution,
        expected_fps,
        retention_max_age,
        retention_max_bytes,
    })
}

fn check_duration(
    v: &Val<Option<Duration>>,
    what: &str,
    range: Bounds,
    fix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Duration> {
    match v.v {
        Some(d) if range.contains(d) => Some(d),
        Some(d) if d < range.min => {
            errors.push(err(
                &v.at,
                format!(
                    "{what} {} s is too short (allowed {})",
                    secs(d),
                    range.describe()
                ),
                fix,
            ));
            None
        }
        Some(d) => {
            // A saturated value would print as 18446744073709551615 s.
            let shown = if d == Duration::MAX {
                String::new()
            } else {
                format!(" {} s", secs(d))
            };
            errors.push(err(
                &v.at,
                format!("{what}{shown} is too long (allowed {})", range.describe()),
                fix,
            ));
            None
        }
        None => {
            errors.push(err(
                &v.at,
                format!(
                    "{what} must be a positive number (allowed {})",
                    range.describe()
                ),
                fix,
            ));
            None
        }
    }
}

/// Seconds as printed in messages and `config check`: `5`, `0.5`.
pub(super) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_never_hold_path_credentials() {
        let u = CameraUrl::parse(
            "rtsp://admin:Pw9@10.0.0.5/user=admin&password=S3cretPw&channel=1&stream=0.sdp",
        )
        .unwrap();
        assert_eq!(camera_id_from_url(&u), "10-0-0-5-channel-1-stream-0-sdp");
        let u = CameraUrl::parse("rtsp://cam/live;pwd=S3cretPw;ch=2?pass=S3cretPw").unwrap();
        assert_eq!(camera_id_from_url(&u), "cam-live-ch-2");
        let u = CameraUrl::parse(
            "rtsp://192.168.1.10:554/user=admin_password=S3cretPw_channel=1_stream=0.sdp?real_stream",
        )
        .unwrap();
        assert_eq!(camera_id_from_url(&u), "192-168-1-10");
    }

    #[test]
    fn ids_without_credentials_keep_their_old_form() {
        let u = CameraUrl::parse("rtsp://u:p@192.168.1.10:554/Streaming/Channels/101").unwrap();
        assert_eq!(
            camera_id_from_url(&u),
            "192-168-1-10-Streaming-Channels-101"
        );
        let u = CameraUrl::parse("rtsp://cam/cam/realmonitor?channel=1&subtype=0").unwrap();
        assert_eq!(camera_id_from_url(&u), "cam-cam-realmonitor");
    }
}
