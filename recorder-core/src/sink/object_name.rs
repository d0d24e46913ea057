//! Object and file names from a template such as
//! `{camera}/{YYYYMMDD}/{HHMMSS}_{camera}.mp4`.
//!
//! Times are UTC; the calendar comes from [`WallTime::to_utc`].

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::mux::WallTime;

/// The default template: one folder per camera and UTC day, files named by
/// the segment's UTC start time.
pub const DEFAULT_TEMPLATE: &str = "{camera}/{YYYYMMDD}/{HHMMSS}_{camera}.mp4";

/// The placeholders a template may use, for error messages.
const KNOWN: &str = "{camera} {YYYY} {MM} {DD} {hh} {mm} {ss} {YYYYMMDD} {HHMMSS} {segment} {unix}";

/// Why a template was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is empty.
    #[error("object name template is empty: use e.g. {DEFAULT_TEMPLATE:?}")]
    Empty,
    /// `{name}` is not a known placeholder.
    #[error("object name template {template:?} uses unknown placeholder {{{name}}}: known ones are {KNOWN}")]
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The placeholder name without braces.
        name: String,
    },
    /// A `{` without `}` or a stray `}`.
    #[error("object name template {template:?} has an unmatched brace at byte {at}: placeholders look like {{camera}}")]
    UnmatchedBrace {
        /// The template.
        template: String,
        /// Byte offset of the brace.
        at: usize,
    },
    /// The template starts with `/`.
    #[error("object name template {template:?} is an absolute path: names are relative to the output directory or bucket; drop the leading '/'")]
    Absolute {
        /// The template.
        template: String,
    },
    /// A path component is empty, `.` or `..`.
    #[error("object name template {template:?} has a path component {component:?}: empty, '.' and '..' components are not allowed (they would escape or confuse the output directory)")]
    BadComponent {
        /// The template.
        template: String,
        /// The offending component.
        component: String,
    },
    /// A control character (including NUL) in the template.
    #[error("object name template {template:?} contains a control character: remove it")]
    ControlCharacter {
        /// The template.
        template: String,
    },
    /// The name does not end in the extension the sink needs.
    #[error("object name template {template:?} must end in {extension:?} (the sink relies on it to find and repair files)")]
    WrongExtension {
        /// The template.
        template: String,
        /// The required extension, with its dot.
        extension: &'static str,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Camera,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Date,
    Time,
    Segment,
    Unix,
}

/// A validated object name template.
///
/// Placeholders: `{camera}` (sanitized camera id), `{YYYY}` `{MM}` `{DD}`
/// `{hh}` `{mm}` `{ss}` (UTC, zero-padded), `{YYYYMMDD}`, `{HHMMSS}`,
/// `{segment}` (the muxer's segment index) and `{unix}` (seconds since the
/// epoch). Names are `/`-separated and relative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectNameTemplate {
    source: String,
    parts: Vec<Part>,
}

impl Default for ObjectNameTemplate {
    fn default() -> Self {
        ObjectNameTemplate::parse(DEFAULT_TEMPLATE).expect("the default template is valid")
    }
}

impl std::str::FromStr for ObjectNameTemplate {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectNameTemplate::parse(s)
    }
}

impl std::fmt::Display for ObjectNameTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl ObjectNameTemplate {
    /// Parses and validates `template`, so that a bad configuration fails at
    /// startup rather than at the first segment.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let owned = || template.to_owned();
        if template.is_empty() {
            return Err(TemplateError::Empty);
        }
        if template.chars().any(char::is_control) {
            return Err(TemplateError::ControlCharacter { template: owned() });
        }
        if template.starts_with('/') {
            return Err(TemplateError::Absolute { template: owned() });
        }
        for component in template.split('/') {
            if component.is_empty() || component == "." || component == ".." {
                return Err(TemplateError::BadComponent {
                    template: owned(),
                    component: component.to_owned(),
                });
            }
        }

        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        let mut offset = 0;
        while let Some(i) = rest.find(['{', '}']) {
            if rest.as_bytes()[i] == b'}' {
                return Err(TemplateError::UnmatchedBrace {
                    template: owned(),
                    at: offset + i,
                });
            }
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let close = after.find('}').filter(|&j| !after[..j].contains('{'));
            let Some(j) = close else {
                return Err(TemplateError::UnmatchedBrace {
                    template: owned(),
                    at: offset + i,
                });
            };
            let name = &after[..j];
            let part = match name {
                "camera" => Part::Camera,
                "YYYY" => Part::Year,
                "MM" => Part::Month,
                "DD" => Part::Day,
                "hh" => Part::Hour,
                "mm" => Part::Minute,
                "ss" => Part::Second,
                "YYYYMMDD" => Part::Date,
                "HHMMSS" => Part::Time,
                "segment" => Part::Segment,
                "unix" => Part::Unix,
                _ => {
                    return Err(TemplateError::UnknownPlaceholder {
                        template: owned(),
                        name: name.to_owned(),
                    })
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            let consumed = i + 1 + j + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(ObjectNameTemplate {
            source: template.to_owned(),
            parts,
        })
    }

    /// The template text as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Checks that rendered names end in `extension` (e.g. `".mp4"`).
    pub fn require_extension(&self, extension: &'static str) -> Result<(), TemplateError> {
        match self.parts.last() {
            Some(Part::Literal(l)) if l.ends_with(extension) && l.len() > extension.len() => Ok(()),
            // A literal of exactly ".mp4" after a placeholder is fine too.
            Some(Part::Literal(l)) if l == extension && self.parts.len() > 1 => Ok(()),
            _ => Err(TemplateError::WrongExtension {
                template: self.source.clone(),
                extension,
            }),
        }
    }

    /// Renders the name for a segment of `camera` starting at `wall` (UTC).
    ///
    /// The camera id is passed through [`sanitize_camera_id`] first, so the
    /// result never escapes the output directory.
    pub fn render(&self, camera: &str, wall: WallTime, segment: u64) -> String {
        let camera = sanitize_camera_id(camera);
        let t = wall.to_utc();
        let mut out = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            // Writing to a String cannot fail.
            let _ = match part {
                Part::Literal(l) => {
                    out.push_str(l);
                    Ok(())
                }
                Part::Camera => {
                    out.push_str(&camera);
                    Ok(())
                }
                Part::Year => write!(out, "{:04}", t.year()),
                Part::Month => write!(out, "{:02}", t.month()),
                Part::Day => write!(out, "{:02}", t.day()),
                Part::Hour => write!(out, "{:02}", t.hour()),
                Part::Minute => write!(out, "{:02}", t.minute()),
                Part::Second => write!(out, "{:02}", t.second()),
                Part::Date => write!(out, "{:04}{:02}{:02}", t.year(), t.month(), t.day()),
                Part::Time => write!(out, "{:02}{:02}{:02}", t.hour(), t.minute(), t.second()),
                Part::Segment => write!(out, "{segment}"),
                Part::Unix => write!(out, "{}", wall.unix_secs()),
            };
        }
        out
    }
}

/// What [`ObjectNameTemplate::match_name`] reads back from a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameFields {
    /// The `{camera}` part (sanitized, as rendered), when the template has one.
    pub camera: Option<String>,
    /// The segment's start as the name records it (UTC, whole seconds):
    /// from `{unix}`, or from the date and time placeholders when the
    /// template has all of year, month, day, hour, minute and second.
    pub start: Option<WallTime>,
}

/// Values bound while matching a name against a template.
#[derive(Clone, Default)]
struct Bound<'a> {
    camera: Option<&'a str>,
    year: Option<i16>,
    month: Option<i8>,
    day: Option<i8>,
    hour: Option<i8>,
    minute: Option<i8>,
    second: Option<i8>,
    unix: Option<i64>,
}

impl ObjectNameTemplate {
    /// Reads a name this template rendered back into its fields: the
    /// camera and the start time. The `-N` suffix [`LocalSink`] adds to a
    /// taken name is accepted. `None` when `name` does not fit the
    /// template (a file some other program or template wrote).
    ///
    /// A template whose only `{camera}` ends the name (`{unix}_{camera}.mp4`)
    /// is ambiguous: `1_cam-2.mp4` reads as camera `cam-2`, never as a
    /// suffixed `cam`. The default template names the camera twice and is
    /// not.
    ///
    /// [`LocalSink`]: super::LocalSink
    pub fn match_name(&self, name: &str) -> Option<NameFields> {
        fields(&self.parts, name).or_else(|| {
            // `NAME-N.mp4`: the collision suffix sits before the extension.
            let (stem, ext) = name.rsplit_once('.')?;
            let (base, n) = stem.rsplit_once('-')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            fields(&self.parts, &format!("{base}.{ext}"))
        })
    }
}

/// The fields of `name` when it matches `parts` exactly.
fn fields(parts: &[Part], name: &str) -> Option<NameFields> {
    let bound = match_parts(parts, name, Bound::default())?;
    let start = match bound.unix {
        Some(u) => Some(WallTime(u.checked_mul(1_000_000_000)?)),
        None => match (
            bound.year,
            bound.month,
            bound.day,
            bound.hour,
            bound.minute,
            bound.second,
        ) {
            (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
                // An impossible date (month 13) is not a name we wrote.
                let dt = jiff::civil::DateTime::new(y, mo, d, h, mi, s, 0).ok()?;
                let ts = jiff::tz::Offset::UTC.to_timestamp(dt).ok()?;
                Some(WallTime(i64::try_from(ts.as_nanosecond()).ok()?))
            }
            _ => None,
        },
    };
    Some(NameFields {
        camera: bound.camera.map(str::to_owned),
        start,
    })
}

/// `n` ASCII digits at the start of `s`, parsed.
fn digits(s: &str, n: usize) -> Option<(i64, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

/// Backtracking match of `parts` against all of `rest`. Placeholders of
/// fixed width read exactly their digits; `{camera}`, `{segment}` and
/// `{unix}` try every length (names are short and the template has few of
/// them, so this stays tiny). A placeholder seen twice must read the same.
fn match_parts<'a>(parts: &[Part], rest: &'a str, b: Bound<'a>) -> Option<Bound<'a>> {
    let Some((first, more)) = parts.split_first() else {
        return rest.is_empty().then_some(b);
    };
    let fixed = |n: usize, set: &dyn Fn(&mut Bound<'a>, i64) -> bool| -> Option<Bound<'a>> {
        let (v, after) = digits(rest, n)?;
        let mut b2 = b.clone();
        if !set(&mut b2, v) {
            return None;
        }
        match_parts(more, after, b2)
    };
    fn same<T: PartialEq + Copy>(slot: &mut Option<T>, v: T) -> bool {
        match *slot {
            Some(old) => old == v,
            None => {
                *slot = Some(v);
                true
            }
        }
    }
    match first {
        Part::Literal(l) => match_parts(more, rest.strip_prefix(l.as_str())?, b),
        Part::Year => fixed(4, &|b, v| same(&mut b.year, v as i16)),
        Part::Month => fixed(2, &|b, v| same(&mut b.month, v as i8)),
        Part::Day => fixed(2, &|b, v| same(&mut b.day, v as i8)),
        Part::Hour => fixed(2, &|b, v| same(&mut b.hour, v as i8)),
        Part::Minute => fixed(2, &|b, v| same(&mut b.minute, v as i8)),
        Part::Second => fixed(2, &|b, v| same(&mut b.second, v as i8)),
        Part::Date => fixed(8, &|b, v| {
            same(&mut b.year, (v / 10_000) as i16)
                && same(&mut b.month, (v / 100 % 100) as i8)
                && same(&mut b.day, (v % 100) as i8)
        }),
        Part::Time => fixed(6, &|b, v| {
            same(&mut b.hour, (v / 10_000) as i8)
                && same(&mut b.minute, (v / 100 % 100) as i8)
                && same(&mut b.second, (v % 100) as i8)
        }),
        Part::Segment | Part::Unix => {
            let neg = matches!(first, Part::Unix) && rest.starts_with('-');
            let body = if neg { &rest[1..] } else { rest };
            let n = body.bytes().take_while(u8::is_ascii_digit).count().min(19);
            (1..=n).rev().find_map(|len| {
                let mut b2 = b.clone();
                if matches!(first, Part::Unix) {
                    let v: i64 = body[..len].parse().ok()?;
                    if !same(&mut b2.unix, if neg { -v } else { v }) {
                        return None;
                    }
                }
                match_parts(more, &body[len..], b2)
            })
        }
        Part::Camera => {
            if let Some(c) = b.camera {
                return match_parts(more, rest.strip_prefix(c)?, b);
            }
            // Every non-empty prefix without a '/', longest first.
            let limit = rest.find('/').unwrap_or(rest.len());
            rest[..limit]
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .find_map(|end| {
                    let mut b2 = b.clone();
                    b2.camera = Some(&rest[..end]);
                    match_parts(more, &rest[end..], b2)
                })
        }
    }
}

/// Makes a camera id safe to use as one path component and object-key
/// segment.
///
/// `/`, `\` and control characters become `_`; a leading `.` becomes `_`
/// (so `.`, `..` and hidden names cannot occur); an empty id becomes `_`.
/// Other characters, including non-ASCII letters, are kept.
pub fn sanitize_camera_id(camera: &str) -> Cow<'_, str> {
    let bad = |c: char| c == '/' || c == '\\' || c.is_control();
    if !camera.is_empty() && !camera.starts_with('.') && !camera.chars().any(bad) {
        return Cow::Borrowed(camera);
    }
    if camera.is_empty() {
        return Cow::Owned("_".to_owned());
    }
    let mut out: String = camera
        .chars()
        .map(|c| if bad(c) { '_' } else { c })
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> WallTime {
        WallTime(secs * 1_000_000_000)
    }

    #[test]
    fn civil_dates_match_day_by_day_reference() {
        // 1900-01-01 (day -25567) to well past 2100 covers the 100- and
        // 400-year leap rules.
        let t = ObjectNameTemplate::parse("{YYYY}-{MM}-{DD}").unwrap();
        let mut expected = (1900, 1, 1);
        for days in -25_567..60_000i64 {
            let (y, m, d) = expected;
            let want = format!("{y:04}-{m:02}-{d:02}");
            assert_eq!(
                t.render("c", ts(days * 86_400 + 86_399), 0),
                want,
                "day {days}"
            );
            expected = reference_date_step(y, m, d);
        }
    }

    fn reference_date_step(y: i64, m: u32, d: u32) -> (i64, u32, u32) {
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let len = match m {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if d < len {
            (y, m, d + 1)
        } else if m < 12 {
            (y, m + 1, 1)
        } else {
            (y + 1, 1, 1)
        }
    }

    #[test]
    fn known_instants() {
        let t = ObjectNameTemplate::default();
        let cases = [
            ("cam", ts(0), "cam/19700101/000000_cam.mp4"),
            // Last second of 2023 and first of 2024.
            ("cam", ts(1_704_067_199), "cam/20231231/235959_cam.mp4"),
            ("cam", ts(1_704_067_200), "cam/20240101/000000_cam.mp4"),
            // Leap days: 2024-02-29 exists, 2100-02-29 does not, 2000-02-29 does.
            ("c", ts(1_709_164_800), "c/20240229/000000_c.mp4"),
            ("c", ts(1_709_251_199), "c/20240229/235959_c.mp4"),
            ("c", ts(1_709_251_200), "c/20240301/000000_c.mp4"),
            ("c", ts(4_107_542_399), "c/21000228/235959_c.mp4"),
            ("c", ts(4_107_542_400), "c/21000301/000000_c.mp4"),
            ("c", ts(951_782_400), "c/20000229/000000_c.mp4"),
            // Before the epoch: floor, not truncation toward zero.
            ("c", WallTime(-1), "c/19691231/235959_c.mp4"),
            // Sub-second part is dropped.
            (
                "c",
                WallTime(1_704_067_199_999_999_999),
                "c/20231231/235959_c.mp4",
            ),
        ];
        for (camera, at, expected) in cases {
            assert_eq!(t.render(camera, at, 0), expected, "{at:?}");
        }
    }

    #[test]
    fn every_placeholder() {
        let t = ObjectNameTemplate::parse(
            "{YYYY}/{MM}/{DD}/{hh}-{mm}-{ss}_{YYYYMMDD}T{HHMMSS}_{segment}_{unix}_{camera}.mp4",
        )
        .unwrap();
        // 2021-03-04 05:06:07 UTC
        let secs = 1_614_834_367;
        assert_eq!(
            t.render("front door", ts(secs), 42),
            "2021/03/04/05-06-07_20210304T050607_42_1614834367_front door.mp4"
        );
        assert_eq!(t.to_string(), t.as_str());
    }

    #[test]
    fn template_errors() {
        use TemplateError::*;
        let e = |s: &str| ObjectNameTemplate::parse(s).unwrap_err();
        assert_eq!(e(""), Empty);
        assert!(
            matches!(e("{camera}/{date}.mp4"), UnknownPlaceholder { name, .. } if name == "date")
        );
        assert!(matches!(e("/{camera}.mp4"), Absolute { .. }));
        assert!(
            matches!(e("{camera}/../x.mp4"), BadComponent { component, .. } if component == "..")
        );
        assert!(matches!(e("../x.mp4"), BadComponent { .. }));
        assert!(matches!(e("a/./x.mp4"), BadComponent { .. }));
        assert!(matches!(e("a//x.mp4"), BadComponent { .. }));
        assert!(matches!(e("a/"), BadComponent { .. }));
        assert!(matches!(e("{camera.mp4"), UnmatchedBrace { at: 0, .. }));
        assert!(matches!(e("x}.mp4"), UnmatchedBrace { at: 1, .. }));
        assert!(matches!(e("{ca{camera}.mp4"), UnmatchedBrace { at: 0, .. }));
        assert!(matches!(e("a\0b.mp4"), ControlCharacter { .. }));
        // Messages name the template and suggest the fix.
        let msg = e("{camera}/{date}.mp4").to_string();
        assert!(
            msg.contains("{camera}/{date}.mp4") && msg.contains("{YYYYMMDD}"),
            "{msg}"
        );
    }

    #[test]
    fn extension_check() {
        let ok = |s: &str| {
            ObjectNameTemplate::parse(s)
                .unwrap()
                .require_extension(".mp4")
        };
        assert!(ok(DEFAULT_TEMPLATE).is_ok());
        assert!(ok("{camera}.mp4").is_ok());
        assert!(ok("{camera}.mkv").is_err());
        assert!(ok("{camera}").is_err());
        assert!(ok(".mp4").is_err());
    }

    #[test]
    fn names_read_back_into_camera_and_start() {
        let cases = [
            DEFAULT_TEMPLATE,
            "{YYYY}/{MM}/{DD}/{camera}-{hh}{mm}{ss}.mp4",
            "{camera}/{unix}.mp4",
            "x/{camera}/{YYYYMMDD}T{HHMMSS}_{segment}.mp4",
        ];
        for src in cases {
            let t = ObjectNameTemplate::parse(src).unwrap();
            for (camera, secs) in [("porch", 1_704_067_199), ("front-door_2", 951_782_400)] {
                let name = t.render(camera, ts(secs), 17);
                let f = t
                    .match_name(&name)
                    .unwrap_or_else(|| panic!("{src}: {name}"));
                assert_eq!(f.camera.as_deref(), Some(camera), "{src}: {name}");
                assert_eq!(f.start, Some(ts(secs)), "{src}: {name}");
                // The sink's collision suffix.
                let suffixed = name.replace(".mp4", "-3.mp4");
                assert_eq!(t.match_name(&suffixed), Some(f), "{src}: {suffixed}");
            }
        }
        let t = ObjectNameTemplate::default();
        // Not ours: another layout, a bad date, a different camera twice.
        for name in [
            "porch/20240101/12000_porch.mp4",
            "porch/20241301/120000_porch.mp4",
            "porch/20240101/120000_garage.mp4",
            "porch/20240101/120000_porch.mp4.part",
            "notes.txt",
        ] {
            assert_eq!(t.match_name(name), None, "{name}");
        }
        // No time placeholders: the camera only.
        let t = ObjectNameTemplate::parse("{camera}/{segment}.mp4").unwrap();
        assert_eq!(
            t.match_name("cam/12.mp4"),
            Some(NameFields {
                camera: Some("cam".into()),
                start: None
            })
        );
    }

    #[test]
    fn camera_ids_are_sanitized() {
        assert_eq!(sanitize_camera_id("front"), "front");
        assert!(matches!(sanitize_camera_id("front"), Cow::Borrowed(_)));
        assert_eq!(sanitize_camera_id("a/b"), "a_b");
        assert_eq!(sanitize_camera_id(".."), "_.");
        assert_eq!(sanitize_camera_id("."), "_");
        assert_eq!(sanitize_camera_id(""), "_");
        assert_eq!(sanitize_camera_id("../../etc"), "_._.._etc");
        assert_eq!(sanitize_camera_id("a\\b\nc"), "a_b_c");
        assert_eq!(sanitize_camera_id("Küche"), "Küche");
        let t = ObjectNameTemplate::default();
        let name = t.render("../../etc/passwd", ts(0), 0);
        assert!(
            !name
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty()),
            "{name}"
        );
        assert!(name.starts_with("_._.._etc_passwd/"), "{name}");
    }
}
