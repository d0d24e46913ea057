//! The HLS VOD playlist (RFC 8216, version 7, fragmented MP4) of a
//! camera's segments in a time window: a pure function over index values.
//!
//! Each stored segment is an `EXT-X-MAP` (its `ftyp`+`moov` by byte range)
//! followed by one media segment per fragment (`EXT-X-BYTERANGE` of its
//! `moof`+`mdat`), each with its `EXT-X-PROGRAM-DATE-TIME`. Every stored
//! segment restarts its media timeline at zero (its own `moov`, first
//! `tfdt` 0), so every boundary between two of them is an
//! `EXT-X-DISCONTINUITY`: that covers gaps and codec or resolution changes,
//! and also back-to-back segments, whose timestamps restart as well.
//!
//! Players that ignore that tag and read the playlist as one stream
//! (ffmpeg's HLS reader) drop samples whose decode time goes back. On a
//! [`Timeline::Continuous`] playlist each segment's fragments are fetched
//! with `?shift_us=N`: the bytes route moves their decode times `N` µs
//! later ([`continuous_shifts`]; 0 for the first segment), so the whole
//! playlist is one increasing timeline, with jumps at gaps. The tags stay: for players
//! that honour them, nothing changes.

use std::fmt::Write as _;

use recorder_core::index::SegmentIndex;
use recorder_core::time::WallTime;

use super::timefmt::push_rfc3339;

/// A segment with the URL its bytes are fetched from (the bytes route,
/// or a presigned S3 URL).
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The segment's index.
    pub segment: &'a SegmentIndex,
    /// The URL of its file.
    pub url: &'a str,
}

/// How a playlist lays out its segments' decode times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// As stored: each segment from zero (fragments fetched as they are,
    /// e.g. from presigned URLs).
    Stored,
    /// One increasing timeline: every later segment's fragments moved by
    /// the bytes route (`?shift_us=`).
    Continuous,
}

/// How far a segment's media reaches from its time zero: its duration, or
/// the end of a track of its last fragment if one runs longer (audio past
/// the last video frame).
fn media_span_us(s: &SegmentIndex) -> u64 {
    let mut span = s.duration.as_micros() as u64;
    if let Some(last) = s.fragments.last() {
        let tail = last.duration.as_micros() as u64;
        for (t, start) in s.tracks.iter().zip(&last.decode_start) {
            if t.timescale > 0 {
                let at = (u128::from(*start) * 1_000_000 / u128::from(t.timescale)) as u64;
                span = span.max(at.saturating_add(tail));
            }
        }
    }
    span
}

/// The shift (µs) of each segment on one continuous timeline starting at
/// the first one's time zero: its wall-clock distance from the first, but
/// never before the end of the previous segment's media, so decode times
/// always increase (two recordings' clocks can disagree by a frame).
pub fn continuous_shifts<'a>(segments: impl IntoIterator<Item = &'a SegmentIndex>) -> Vec<u64> {
    let mut out = Vec::new();
    let mut base = None;
    let mut next_free = 0u64;
    for s in segments {
        let base = *base.get_or_insert(s.wall_start);
        // Index values come from files: a damaged one must not overflow.
        let wall =
            u64::try_from(s.wall_start.0.saturating_sub(base.0).max(0) / 1_000).unwrap_or(u64::MAX);
        let shift = wall.max(next_free);
        next_free = shift.saturating_add(media_span_us(s));
        out.push(shift);
    }
    out
}

/// Overlap with a window below which a fragment is left out (well under
/// a frame).
const OVERLAP_SLACK_NS: i128 = 5_000_000;

/// Where fragment `i` of `s` ends in wall-clock time.
pub fn fragment_end(s: &SegmentIndex, i: usize) -> WallTime {
    let f = &s.fragments[i];
    f.wall_start
        .add_ns(i128::try_from(f.duration.as_nanos()).unwrap_or(i128::MAX))
}

/// The fragments of `s` to play for `[start, end)` (as `first..last`):
/// those overlapping it, widened back to the keyframe-started fragment at
/// or before `start` so the first one decodes. `None` when none overlaps.
pub fn fragments_in(s: &SegmentIndex, start: WallTime, end: WallTime) -> Option<(usize, usize)> {
    let n = s.fragments.len();
    // Fragments are in time order: the last starting at or before `start`,
    // or the next if that one ends before it.
    // A fragment touching the window by less than a frame's rounding (a
    // segment's end and the next one's start come from different clocks'
    // arithmetic) is not part of it.
    let (start, end) = (
        start.add_ns(OVERLAP_SLACK_NS),
        end.add_ns(-OVERLAP_SLACK_NS),
    );
    let mut first = s
        .fragments
        .partition_point(|f| f.wall_start <= start)
        .saturating_sub(1);
    while first < n && fragment_end(s, first) <= start {
        first += 1;
    }
    let last = s.fragments.partition_point(|f| f.wall_start < end);
    if first >= last {
        return None;
    }
    while first > 0 && !s.fragments[first].keyframe {
        first -= 1;
    }
    Some((first, last))
}

/// The playlist for `entries` (in time order) restricted to
/// `[start, end)`, its decode times laid out as `timeline` says. An empty
/// window yields a valid playlist with no segment.
pub fn playlist(
    entries: &[Entry<'_>],
    start: WallTime,
    end: WallTime,
    timeline: Timeline,
) -> String {
    let chosen: Vec<(Entry<'_>, usize, usize)> = entries
        .iter()
        .filter_map(|e| fragments_in(e.segment, start, end).map(|(a, b)| (*e, a, b)))
        .collect();
    let shifts = match timeline {
        Timeline::Continuous => continuous_shifts(chosen.iter().map(|(e, _, _)| e.segment)),
        Timeline::Stored => vec![0; chosen.len()],
    };
    // EXTINF rounded to the nearest second must not exceed the target.
    let mut longest = 0f64;
    let mut count = 0usize;
    for (e, a, b) in &chosen {
        for i in *a..*b {
            longest = longest.max(e.segment.fragments[i].duration.as_secs_f64());
        }
        count += b - a;
    }
    let target = (longest.round() as u64).max(1);
    // About 150 bytes per fragment plus the URL twice per segment.
    let mut out = String::with_capacity(256 + count * 150);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    for (n, ((e, a, b), shift)) in chosen.iter().zip(shifts).enumerate() {
        let s = e.segment;
        let sep = if e.url.contains('?') { '&' } else { '?' };
        // On a continuous timeline every URL names its shift, 0 for the
        // init section and the first segment: served by camrec, never a
        // redirect to the bucket (a player's connection then stays on one
        // host).
        let (init_url, media_url) = match timeline {
            Timeline::Continuous => (
                format!("{}{sep}shift_us=0", e.url),
                format!("{}{sep}shift_us={shift}", e.url),
            ),
            Timeline::Stored => (e.url.to_owned(), e.url.to_owned()),
        };
        if n > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(
            out,
            "#EXT-X-MAP:URI=\"{}\",BYTERANGE=\"{}@{}\"",
            init_url,
            s.init.end - s.init.start,
            s.init.start
        );
        for i in *a..*b {
            let f = &s.fragments[i];
            out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
            push_rfc3339(&mut out, f.wall_start);
            let _ = write!(
                out,
                "\n#EXTINF:{:.3},\n#EXT-X-BYTERANGE:{}@{}\n",
                f.duration.as_secs_f64(),
                f.len,
                f.offset
            );
            out.push_str(&media_url);
            out.push('\n');
        }
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use recorder_core::index::FragmentIndex;
    use std::time::Duration;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_714_564_800 * S;

    /// A segment at `start_s` of `n` one-second fragments of 1000 bytes,
    /// a keyframe every `gop`.
    pub(crate) fn seg(start_s: i64, n: usize, gop: usize) -> SegmentIndex {
        let start = WallTime(T0 + start_s * S);
        SegmentIndex {
            camera: "cam".into(),
            wall_start: start,
            wall_end: WallTime(start.0 + n as i64 * S),
            duration: Duration::from_secs(n as u64),
            tracks: Vec::new(),
            init: 0..700,
            fragments: (0..n)
                .map(|i| FragmentIndex {
                    offset: 700 + i as u64 * 1000,
                    len: 1000,
                    header_len: 100,
                    wall_start: WallTime(start.0 + i as i64 * S),
                    duration: Duration::from_secs(1),
                    keyframe: i % gop == 0,
                    decode_start: vec![0],
                    samples: vec![25],
                })
                .collect(),
            video_frames: 25 * n as u64,
        }
    }

    fn entries<'a>(list: &[(&'a SegmentIndex, &'a str)]) -> Vec<Entry<'a>> {
        list.iter()
            .map(|&(segment, url)| Entry { segment, url })
            .collect()
    }

    fn at(s: i64) -> WallTime {
        WallTime(T0 + s * S)
    }

    fn lines_with<'a>(p: &'a str, tag: &str) -> Vec<&'a str> {
        p.lines().filter(|l| l.starts_with(tag)).collect()
    }

    #[test]
    fn a_whole_window_lists_every_fragment_with_its_date_and_bytes() {
        let (a, b) = (seg(0, 3, 1), seg(10, 2, 1));
        let e = entries(&[(&a, "/a"), (&b, "/b")]);
        let p = playlist(&e, at(-5), at(100), Timeline::Stored);
        let expected = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
#EXT-X-MAP:URI=\"/a\",BYTERANGE=\"700@0\"\n\
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z\n#EXTINF:1.000,\n#EXT-X-BYTERANGE:1000@700\n/a\n\
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:01.000Z\n#EXTINF:1.000,\n#EXT-X-BYTERANGE:1000@1700\n/a\n\
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z\n#EXTINF:1.000,\n#EXT-X-BYTERANGE:1000@2700\n/a\n\
#EXT-X-DISCONTINUITY\n\
#EXT-X-MAP:URI=\"/b\",BYTERANGE=\"700@0\"\n\
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:10.000Z\n#EXTINF:1.000,\n#EXT-X-BYTERANGE:1000@700\n/b\n\
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:11.000Z\n#EXTINF:1.000,\n#EXT-X-BYTERANGE:1000@1700\n/b\n\
#EXT-X-ENDLIST\n";
        assert_eq!(p, expected);
    }

    #[test]
    fn a_window_starts_at_the_keyframe_before_start_and_ends_after_end() {
        let a = seg(0, 10, 4);
        let e = [Entry {
            segment: &a,
            url: "/a",
        }];
        // 5.5 s is in fragment 5; the keyframe before it starts fragment 4.
        // 7.2 s is in fragment 7, the last one listed.
        let p = playlist(
            &e,
            WallTime(at(5).0 + S / 2),
            WallTime(at(7).0 + S / 5),
            Timeline::Stored,
        );
        let dates = lines_with(&p, "#EXT-X-PROGRAM-DATE-TIME:");
        assert_eq!(
            dates,
            [
                "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:04.000Z",
                "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:05.000Z",
                "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:06.000Z",
                "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:07.000Z",
            ]
        );
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn segments_outside_the_window_are_left_out_and_an_empty_window_is_valid() {
        let (a, b) = (seg(0, 3, 1), seg(10, 2, 1));
        let e = entries(&[(&a, "/a"), (&b, "/b")]);
        let p = playlist(&e, at(3), at(11), Timeline::Stored);
        assert!(!p.contains("/a"));
        assert_eq!(lines_with(&p, "#EXT-X-MAP").len(), 1);
        assert!(!p.contains("DISCONTINUITY"));
        let empty = playlist(&e, at(4), at(9), Timeline::Continuous);
        assert!(!empty.contains("#EXTINF"));
        assert!(empty.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn a_fragment_touching_the_window_by_a_millisecond_is_left_out() {
        let (a, b) = (seg(0, 3, 1), seg(3, 2, 1));
        let mut a = a;
        a.fragments[2].duration = Duration::from_millis(1001);
        let e = [
            Entry {
                segment: &a,
                url: "/a",
            },
            Entry {
                segment: &b,
                url: "/b",
            },
        ];
        let p = playlist(&e, at(3), WallTime(at(4).0 + 1_000_000), Timeline::Stored);
        assert!(!p.contains("/a"), "{p}");
        assert_eq!(lines_with(&p, "#EXTINF").len(), 1, "{p}");
    }

    #[test]
    fn the_target_duration_covers_the_longest_fragment_rounded() {
        let mut a = seg(0, 3, 1);
        a.fragments[2].duration = Duration::from_millis(2500);
        let p = playlist(
            &[Entry {
                segment: &a,
                url: "/a",
            }],
            at(0),
            at(10),
            Timeline::Stored,
        );
        assert!(p.contains("#EXT-X-TARGETDURATION:3\n"), "{p}");
        assert!(p.contains("#EXTINF:2.500,"));
    }

    #[test]
    fn a_continuous_playlist_moves_later_segments_by_their_wall_clock_distance() {
        let (a, b) = (seg(0, 3, 1), seg(10, 2, 1));
        let e = entries(&[(&a, "/a"), (&b, "/b?x=1")]);
        let p = playlist(&e, at(-5), at(100), Timeline::Continuous);
        let urls: Vec<&str> = p.lines().filter(|l| l.starts_with('/')).collect();
        assert_eq!(
            urls,
            [
                "/a?shift_us=0",
                "/a?shift_us=0",
                "/a?shift_us=0",
                "/b?x=1&shift_us=10000000",
                "/b?x=1&shift_us=10000000"
            ]
        );
        // Init sections hold no decode time; the tags stay for players
        // that honour them.
        assert_eq!(
            lines_with(&p, "#EXT-X-MAP"),
            [
                "#EXT-X-MAP:URI=\"/a?shift_us=0\",BYTERANGE=\"700@0\"",
                "#EXT-X-MAP:URI=\"/b?x=1&shift_us=0\",BYTERANGE=\"700@0\""
            ]
        );
        assert_eq!(lines_with(&p, "#EXT-X-DISCONTINUITY").len(), 1);
        // Only the URLs differ from the stored layout.
        let stored = playlist(&e, at(-5), at(100), Timeline::Stored);
        assert_eq!(
            p.replace("&shift_us=10000000", "")
                .replace("?shift_us=0", "")
                .replace("&shift_us=0", ""),
            stored,
            "same playlist otherwise"
        );
    }

    #[test]
    fn a_segment_whose_clock_starts_inside_the_previous_media_is_moved_after_it() {
        // b's wall clock says 2.99 s, but a's media lasts 3 s.
        let a = seg(0, 3, 1);
        let mut b = seg(3, 2, 1);
        b.wall_start = WallTime(at(3).0 - 10_000_000);
        assert_eq!(continuous_shifts([&a, &b]), [0, 3_000_000]);
        // An audio track running 40 ms past the last video frame moves the
        // next segment further.
        let mut a = a;
        a.tracks = vec![track("h264", 90_000), track("aac", 48_000)];
        for f in &mut a.fragments {
            f.decode_start = vec![0, 0];
        }
        a.fragments[2].decode_start = vec![180_000, 2 * 48_000 + 1_920];
        assert_eq!(continuous_shifts([&a, &b]), [0, 3_040_000]);
    }

    fn track(codec: &str, timescale: u32) -> recorder_core::index::TrackIndex {
        recorder_core::index::TrackIndex {
            codec: codec.into(),
            timescale,
            width: 0,
            height: 0,
            sample_rate: 0,
            channels: 0,
        }
    }

    proptest::proptest! {
        /// Whatever the clocks say, each segment starts after the previous
        /// one's media ends, and never before its wall-clock distance.
        #[test]
        fn continuous_shifts_always_increase(
            parts in proptest::collection::vec((-3_000i64..30_000, 1usize..5), 1..12)
        ) {
            let mut segs = Vec::new();
            let mut t = 0i64;
            for (step_ms, n) in parts {
                let mut s = seg(0, n, 1);
                let start = WallTime(T0 + t * 1_000_000);
                s.wall_start = start;
                for (i, f) in s.fragments.iter_mut().enumerate() {
                    f.wall_start = WallTime(start.0 + i as i64 * S);
                }
                t += step_ms;
                segs.push(s);
            }
            let shifts = continuous_shifts(&segs);
            proptest::prop_assert_eq!(shifts[0], 0);
            for i in 1..segs.len() {
                let prev_end = shifts[i - 1] + segs[i - 1].duration.as_micros() as u64;
                proptest::prop_assert!(shifts[i] >= prev_end, "{shifts:?}");
                let wall = ((segs[i].wall_start.0 - segs[0].wall_start.0).max(0) / 1_000) as u64;
                proptest::prop_assert!(shifts[i] >= wall);
            }
        }
    }
}
