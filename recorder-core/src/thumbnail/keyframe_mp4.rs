//! A keyframe alone in a playable MP4, made by camrec's own muxer.

use super::ThumbnailError;
use crate::mux::{EndReason, Frame, MuxEvent, Muxer, MuxerConfig, TrackSpec};

/// Puts one keyframe of `track` into a one-frame fragmented MP4 (init
/// segment + one fragment, durations patched as a finished segment's).
/// Works for every video codec the muxer takes; this is how H.265
/// keyframes are kept, since no dependable pure-Rust or bundled H.265
/// decoder exists to make a JPEG.
pub fn one_frame_mp4(track: &TrackSpec, frame: &Frame) -> Result<Vec<u8>, ThumbnailError> {
    let mux_err = |detail: String| ThumbnailError::Mux { detail };
    if !frame.keyframe {
        return Err(ThumbnailError::NotKeyframe { pts: frame.pts });
    }
    let mut muxer = Muxer::new(vec![track.clone()], MuxerConfig::default())
        .map_err(|e| mux_err(e.to_string()))?;
    let mut events = Vec::new();
    let bytes = frame.data.len();
    let mut frame = frame.clone();
    frame.track = 0;
    muxer
        .push(frame, &mut events)
        .map_err(|e| mux_err(e.to_string()))?;
    muxer.finish(EndReason::Finished, &mut events);
    let mut out = Vec::new();
    let mut fragments = 0;
    let mut finished = false;
    for ev in events {
        match ev {
            MuxEvent::SegmentStarted(s) => out.extend_from_slice(&s.init),
            MuxEvent::Fragment(f) => {
                fragments += 1;
                for c in f.bytes.chunks() {
                    out.extend_from_slice(c);
                }
            }
            MuxEvent::SegmentFinished(end) => {
                for p in &end.header_patches {
                    p.apply(&mut out).map_err(|e| mux_err(e.to_string()))?;
                }
                finished = true;
            }
        }
    }
    if fragments != 1 || !finished {
        return Err(mux_err(format!(
            "the muxer made {fragments} fragments of the keyframe ({bytes} bytes; finished: \
             {finished}); it may exceed the muxer's frame size limit"
        )));
    }
    Ok(out)
}
