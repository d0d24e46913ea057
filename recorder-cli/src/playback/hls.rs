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
/// `[start, end)`. An empty window yields a valid playlist with no
/// segment.
pub fn playlist(entries: &[Entry<'_>], start: WallTime, end: WallTime) -> String {
    let chosen: Vec<(Entry<'_>, usize, usize)> = entries
        .iter()
        .filter_map(|e| fragments_in(e.segment, start, end).map(|(a, b)| (*e, a, b)))
        .collect();
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
    for (n, (e, a, b)) in chosen.iter().enumerate() {
        let s = e.segment;
        if n > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(
            out,
            "#EXT-X-MAP:URI=\"{}\",BYTERANGE=\"{}@{}\"",
            e.url,
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
            out.push_str(e.url);
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
        let p = playlist(&e, at(-5), at(100));
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
        let p = playlist(&e, WallTime(at(5).0 + S / 2), WallTime(at(7).0 + S / 5));
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
        let p = playlist(&e, at(3), at(11));
        assert!(!p.contains("/a"));
        assert_eq!(lines_with(&p, "#EXT-X-MAP").len(), 1);
        assert!(!p.contains("DISCONTINUITY"));
        let empty = playlist(&e, at(4), at(9));
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
        let p = playlist(&e, at(3), WallTime(at(4).0 + 1_000_000));
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
        );
        assert!(p.contains("#EXT-X-TARGETDURATION:3\n"), "{p}");
        assert!(p.contains("#EXTINF:2.500,"));
    }
}
