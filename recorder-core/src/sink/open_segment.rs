//! The check both sinks make on every fragment and segment end: that the
//! event belongs to the segment they have open.

use std::path::Path;

use super::SinkError;

/// A sink's record of the segment it is writing.
pub(super) trait OpenSegmentFile {
    /// The muxer's index of the segment, and the file that holds it while
    /// open (the `.part` file, the spool).
    fn index_and_path(&self) -> (u64, &Path);

    fn index(&self) -> u64 {
        self.index_and_path().0
    }
}

fn mismatch<S: OpenSegmentFile>(open: &S, got: u64) -> SinkError {
    let (index, path) = open.index_and_path();
    SinkError::SegmentMismatch {
        open: index,
        got,
        path: path.to_path_buf(),
    }
}

/// The open segment, for a `call` (a fragment) that names segment `got`.
pub(super) fn open_segment<'a, S: OpenSegmentFile>(
    open: &'a mut Option<S>,
    got: u64,
    call: &'static str,
) -> Result<&'a mut S, SinkError> {
    let o = open.as_mut().ok_or(SinkError::NoOpenSegment { call })?;
    if o.index() != got {
        return Err(mismatch(o, got));
    }
    Ok(o)
}

/// Takes the open segment out for a `call` (finishing it) that names
/// segment `got`; on a mismatch the segment stays open.
pub(super) fn take_open_segment<S: OpenSegmentFile>(
    open: &mut Option<S>,
    got: u64,
    call: &'static str,
) -> Result<S, SinkError> {
    match open {
        None => Err(SinkError::NoOpenSegment { call }),
        Some(o) if o.index() != got => Err(mismatch(o, got)),
        Some(_) => Ok(open.take().expect("checked above")),
    }
}
