//! Turning the `.part` files a crash left behind into playable `.mp4`s.
//!
//! A segment file is `ftyp`, `moov`, then fragments (`prft`? `moof` `mdat`),
//! appended in order. After a crash the tail may be torn anywhere. Repair
//! keeps everything up to the end of the last `mdat` that directly follows a
//! complete `moof`, recomputes the duration the muxer would have patched in
//! at the end, and publishes the file under its final name.
//!
//! Run it before any sink writes under the same directory (at startup): it
//! cannot tell a crashed file from one that is still being written.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::fs::{files_under, free_final_name, sync_dir, walk_io_error, FolderLock};
use super::SinkError;
use crate::index;
use crate::mp4::{self, find_child, BoxHeader, Boxes, FieldReader, HeaderPatch, Mp4Error};

/// The most bytes a `moov` or `moof` may have before it is treated as
/// corrupt: real ones are kilobytes, and a garbage size must not make
/// repair allocate gigabytes.
const MAX_META_BOX: u64 = 64 << 20;

/// The `ftyp` box camrec's muxer writes at the start of every segment
/// (major brand `iso6`, minor 0, compatible `iso6 iso5 isom mp41`). Repair
/// only cuts, renames or deletes a file that starts with it (or with a
/// prefix of it: a segment torn within its first bytes), so a stranger's
/// `.mp4.part` (a browser's partial download, say) is never touched.
/// The `ftyp` box every segment camrec writes starts with: repair and
/// recovery touch only files that begin with it.
pub const CAMREC_FTYP: [u8; 32] = *b"\0\0\0\x20ftypiso6\0\0\0\0iso6iso5isommp41";

/// What [`repair_dir`] did, one entry per `.part` file found.
#[derive(Debug, Default)]
pub struct RepairReport {
    /// Every file looked at, in path order.
    pub files: Vec<RepairedFile>,
}

impl RepairReport {
    /// Files published as `.mp4`.
    pub fn repaired(&self) -> usize {
        self.count(|o| matches!(o, RepairOutcome::Repaired { .. }))
    }

    /// Files deleted because they held no complete fragment.
    pub fn removed(&self) -> usize {
        self.count(|o| matches!(o, RepairOutcome::Removed { .. }))
    }

    /// Files that could not be repaired (left in place).
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, RepairOutcome::Failed(_) | RepairOutcome::Skipped { .. }))
    }

    fn count(&self, f: impl Fn(&RepairOutcome) -> bool) -> usize {
        self.files.iter().filter(|r| f(&r.outcome)).count()
    }
}

/// One `.part` file and what became of it.
#[derive(Debug)]
pub struct RepairedFile {
    /// The `.part` file as found.
    pub part: PathBuf,
    /// What was done.
    pub outcome: RepairOutcome,
}

/// The fate of one `.part` file.
#[derive(Debug)]
pub enum RepairOutcome {
    /// Cut after its last complete fragment and renamed.
    Repaired {
        /// The published `.mp4` (with a `-N` suffix if the name was taken).
        path: PathBuf,
        /// Bytes kept.
        kept_bytes: u64,
        /// Bytes cut off the torn tail.
        cut_bytes: u64,
        /// Bytes of the segment index appended after the kept bytes (0 if
        /// it could not be built): the file is `kept_bytes + index_bytes`
        /// long.
        index_bytes: u64,
        /// Complete fragments kept.
        fragments: u32,
        /// True if `mvhd`/`mehd` now carry the recomputed duration (false
        /// when the `moov` or fragments lacked what the computation needs;
        /// the file still plays, players just scan for the length).
        duration_patched: bool,
    },
    /// Deleted: it held no complete fragment, hence no video.
    Removed {
        /// Size of the deleted file.
        bytes: u64,
        /// Why (no `moov`, no complete fragment).
        reason: &'static str,
    },
    /// Left untouched because camrec did not write it: it does not start
    /// with the `ftyp` box camrec's muxer writes (a browser's partial
    /// download, another program's file).
    Skipped {
        /// Why.
        reason: &'static str,
    },
    /// An I/O error; the file was left in place.
    Failed(SinkError),
}

/// Repairs every `*.mp4.part` file under `root`, recursively.
///
/// Symbolic links are not followed. A missing `root` is an empty report.
/// Problems with single files or subdirectories are recorded in the report
/// and do not stop the scan; only an unreadable `root` is an error.
///
/// A folder another camrec process is recording in (or repairing) is
/// refused with [`SinkError::FolderInUse`]: its `.part` files are live.
/// The folder is locked (see [`FolderLock`]) while repair runs; sinks of
/// this same process share that lock, so run repair before they start.
///
/// This does blocking I/O; from async code call it via
/// `tokio::task::spawn_blocking`.
pub fn repair_dir(root: &Path) -> Result<RepairReport, SinkError> {
    let mut report = RepairReport::default();
    if !root.is_dir() {
        // Missing: nothing to repair (and nothing to create). Not a folder:
        // the walk below reports it.
        if fs::symlink_metadata(root).is_err() {
            return Ok(report);
        }
    }
    let _lock = if root.is_dir() {
        Some(FolderLock::output(root)?)
    } else {
        None
    };
    let mut parts = Vec::new();
    for entry in files_under(root) {
        match entry {
            Ok(path) if is_part(&path) => parts.push(path),
            Ok(_) => {}
            Err(e) if e.depth() == 0 => {
                let e = walk_io_error(e);
                if e.kind() == io::ErrorKind::NotFound {
                    return Ok(report);
                }
                return Err(SinkError::from_io("listing", root, e));
            }
            Err(e) => {
                let dir = e.path().unwrap_or(root).to_path_buf();
                report.files.push(RepairedFile {
                    outcome: RepairOutcome::Failed(SinkError::from_io(
                        "listing",
                        &dir,
                        walk_io_error(e),
                    )),
                    part: dir,
                });
            }
        }
    }
    parts.sort();
    for part in parts {
        let outcome = repair_file(&part).unwrap_or_else(RepairOutcome::Failed);
        report.files.push(RepairedFile { part, outcome });
    }
    Ok(report)
}

fn is_part(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".mp4.part"))
}

/// Repairs one `.part` file (see the module docs): cuts the torn tail,
/// patches the duration, appends a rebuilt segment index, renames to
/// `.mp4` without overwriting anything, or deletes the file if it holds no
/// complete fragment.
///
/// The index names the camera its old index (a file finished but not yet
/// renamed) named, else none.
pub fn repair_file(part: &Path) -> Result<RepairOutcome, SinkError> {
    repair_file_for(part, None)
}

/// [`repair_file`] for a segment of a known `camera`.
pub(crate) fn repair_file_for(
    part: &Path,
    camera: Option<&str>,
) -> Result<RepairOutcome, SinkError> {
    let io_err = |action, e| SinkError::from_io(action, part, e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(part)
        .map_err(|e| io_err("opening", e))?;
    let len = file
        .metadata()
        .map_err(|e| io_err("reading metadata of", e))?
        .len();
    let analysis = analyze(&mut file, len).map_err(|e| io_err("reading", e))?;

    let reason = match analysis.state {
        State::NotOurs => return Ok(RepairOutcome::Skipped {
            reason:
                "does not start with camrec's `ftyp` box, so camrec did not write it; left alone",
        }),
        State::NoInit => Some("no complete `moov` (the crash came before any video)"),
        State::Init if analysis.fragments == 0 => Some("no complete fragment (no video)"),
        State::Init => None,
    };
    if let Some(reason) = reason {
        drop(file);
        fs::remove_file(part).map_err(|e| io_err("removing", e))?;
        if let Some(dir) = part.parent() {
            sync_dir(dir)?;
        }
        return Ok(RepairOutcome::Removed { bytes: len, reason });
    }

    let camera = match camera {
        Some(c) => c.to_owned(),
        None => index::read_tail(&mut file, len)
            .ok()
            .flatten()
            .map(|i| i.camera)
            .unwrap_or_default(),
    };
    if analysis.keep < len {
        file.set_len(analysis.keep)
            .map_err(|e| io_err("truncating", e))?;
    }
    for p in &analysis.patches {
        p.write_to(&file).map_err(|e| io_err("patching", e))?;
    }
    // An index the file cannot give is no reason to keep its video
    // unpublished: without one, readers rebuild it.
    let index_bytes = match index::rebuild(&mut file, analysis.keep, &camera) {
        Ok(i) => {
            let bytes = index::encode(&i);
            file.write_all_at(&bytes, analysis.keep)
                .map_err(|e| io_err("writing the index to", e))?;
            bytes.len() as u64
        }
        Err(e) => {
            tracing::warn!(part = %part.display(), error = %e, "cannot index the repaired segment");
            0
        }
    };
    file.sync_all().map_err(|e| io_err("syncing", e))?;
    drop(file);

    let wanted = part.with_extension(""); // strips ".part"
    let path = free_final_name(&wanted, Some(part))?;
    fs::rename(part, &path).map_err(|e| io_err("renaming", e))?;
    if let Some(dir) = part.parent() {
        sync_dir(dir)?;
    }
    Ok(RepairOutcome::Repaired {
        path,
        kept_bytes: analysis.keep,
        cut_bytes: len - analysis.keep,
        index_bytes,
        fragments: analysis.fragments,
        duration_patched: !analysis.patches.is_empty(),
    })
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    /// It does not start with camrec's `ftyp`.
    NotOurs,
    /// No complete `moov` yet.
    NoInit,
    /// The init segment is complete.
    Init,
}

/// What a scan of a segment file found.
#[derive(Debug)]
struct Analysis {
    state: State,
    /// Length of the longest prefix that ends on a complete fragment (or
    /// on the init segment).
    keep: u64,
    fragments: u32,
    /// What puts the recomputed duration in place.
    patches: Vec<HeaderPatch>,
    /// The first track's end time and timescale, when computable.
    media_end: Option<(u64, u32)>,
}

/// What [`scan_segment`] found in a segment file.
#[derive(Debug)]
#[non_exhaustive]
pub struct SegmentScan {
    /// True if the file starts with `ftyp` and holds a complete `moov`.
    pub has_init: bool,
    /// Length of the longest prefix that ends on a complete fragment.
    pub keep: u64,
    /// Complete fragments in that prefix.
    pub fragments: u32,
    /// What puts the recomputed duration in place.
    pub patches: Vec<HeaderPatch>,
    /// Duration of the first track in seconds, when computable.
    pub duration_secs: Option<f64>,
}

/// Walks a segment file like [`repair_file`] does, without changing it:
/// how much of it a repair would keep, and the duration patches it would
/// write. `file` may be anything readable (the S3 spool's files, or bytes
/// in memory); `len` is its length.
pub fn scan_segment<F: Read + Seek>(file: &mut F, len: u64) -> io::Result<SegmentScan> {
    let a = analyze(file, len)?;
    Ok(SegmentScan {
        has_init: a.state == State::Init,
        keep: a.keep,
        fragments: a.fragments,
        patches: a.patches,
        duration_secs: a.media_end.map(|(end, ts)| end as f64 / f64::from(ts)),
    })
}

/// Walks the top-level boxes of `file` (of length `len`).
fn analyze<F: Read + Seek>(file: &mut F, len: u64) -> io::Result<Analysis> {
    let mut a = Analysis {
        state: State::NoInit,
        keep: 0,
        fragments: 0,
        patches: Vec::new(),
        media_end: None,
    };
    let mut info: Option<MoovInfo> = None;
    // The last complete `moof` not yet followed by its `mdat`: (end, body).
    let mut pending_moof: Option<(u64, Vec<u8>)> = None;
    let mut track_end: Option<u64> = None;
    let mut head = [0u8; CAMREC_FTYP.len()];
    let n = read_at(
        file,
        0,
        &mut head[..(len.min(CAMREC_FTYP.len() as u64) as usize)],
    )?;
    if head[..n] != CAMREC_FTYP[..n] {
        a.state = State::NotOurs;
        return Ok(a);
    }
    let mut pos = 0u64;
    while let Some((h, end)) = top_box_at(file, pos, len)? {
        match h.kind {
            mp4::MOOV => {
                if a.state == State::Init || h.size > MAX_META_BOX {
                    break;
                }
                let body = read_body(file, pos + h.header_len, h.size - h.header_len)?;
                info = parse_moov(&body, pos + h.header_len).ok();
                a.state = State::Init;
                a.keep = end;
            }
            mp4::MOOF => {
                if a.state != State::Init || h.size > MAX_META_BOX {
                    break;
                }
                let body = read_body(file, pos + h.header_len, h.size - h.header_len)?;
                pending_moof = Some((end, body));
            }
            mp4::MDAT => match pending_moof.take() {
                Some((moof_end, moof)) if moof_end == pos => {
                    a.fragments += 1;
                    a.keep = end;
                    if let Some(e) = info
                        .as_ref()
                        .and_then(|i| fragment_end(&moof, i).ok().flatten())
                    {
                        track_end = Some(track_end.map_or(e, |t| t.max(e)));
                    }
                }
                // An `mdat` with no `moof` right before it is not our layout.
                _ => break,
            },
            // `prft`, `free` and the like: a `moof` must be followed directly
            // by its `mdat`, so anything in between orphans it.
            _ => pending_moof = None,
        }
        pos = end;
    }
    if let (Some(info), Some(end)) = (&info, track_end) {
        a.patches = info.duration_patches(end);
        a.media_end = Some((end, info.media_timescale));
    }
    Ok(a)
}

/// The complete top-level box at `pos` of a file `len` bytes long: its
/// header and where it ends. `None` at the end, or at a torn or malformed
/// box (nothing after it can be located).
pub(crate) fn top_box_at<F: Read + Seek>(
    file: &mut F,
    pos: u64,
    len: u64,
) -> io::Result<Option<(BoxHeader, u64)>> {
    if pos >= len {
        return Ok(None);
    }
    let mut buf = [0u8; BoxHeader::MAX_LEN];
    let want = (len - pos).min(BoxHeader::MAX_LEN as u64) as usize;
    let n = read_at(file, pos, &mut buf[..want])?;
    let Ok(h) = BoxHeader::parse(&buf[..n]) else {
        return Ok(None);
    };
    // Size 0 ("to end of file") cannot tell a complete box from a torn one.
    Ok(pos
        .checked_add(h.size)
        .filter(|&e| h.size != 0 && e <= len)
        .map(|end| (h, end)))
}

pub(crate) fn read_at<F: Read + Seek>(file: &mut F, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(pos))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub(crate) fn read_body<F: Read + Seek>(file: &mut F, pos: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut body = vec![0u8; len as usize];
    let n = read_at(file, pos, &mut body)?;
    // The file shrank under us; treat the missing part as zeros, which at
    // worst makes the duration computation give up.
    body.truncate(n);
    Ok(body)
}

/// What the duration computation needs from the `moov`.
#[derive(Debug)]
struct MoovInfo {
    movie_timescale: u32,
    /// File offset and width (4 or 8) of `mvhd.duration`.
    mvhd_duration: (u64, usize),
    /// File offset and width of `mehd.fragment_duration`, if present.
    mehd_duration: Option<(u64, usize)>,
    /// The first track's id and `mdhd` timescale.
    track_id: u32,
    media_timescale: u32,
    /// `trex.default_sample_duration` for that track.
    trex_duration: Option<u32>,
}

impl MoovInfo {
    fn duration_patches(&self, media_end: u64) -> Vec<HeaderPatch> {
        let movie = crate::time::rescale(media_end, self.media_timescale, self.movie_timescale);
        std::iter::once(self.mvhd_duration)
            .chain(self.mehd_duration)
            .map(|(offset, width)| HeaderPatch::versioned(offset, width, movie))
            .collect()
    }
}

/// Reads the fields [`MoovInfo`] needs, failing if any is missing.
/// `base` is the file offset of `moov`'s body.
fn parse_moov(moov: &[u8], base: u64) -> Result<MoovInfo, Mp4Error> {
    let mvhd = find_child(moov, mp4::MVHD)?;
    let mut r = FieldReader::new(mvhd.body);
    let (version, _) = r.version_flags()?;
    r.versioned_u64(version)?; // creation time
    r.versioned_u64(version)?; // modification time
    let movie_timescale = r.u32()?;
    let at = base + (mvhd.body_offset + r.pos()) as u64;
    let (_, width) = r.versioned_u64(version)?;
    let mvhd_duration = (at, width);

    let trak = find_child(moov, mp4::TRAK)?;
    let tkhd = find_child(trak.body, mp4::TKHD)?;
    let mut r = FieldReader::new(tkhd.body);
    let (version, _) = r.version_flags()?;
    r.versioned_u64(version)?; // creation time
    r.versioned_u64(version)?; // modification time
    let track_id = r.u32()?;
    let mdia = find_child(trak.body, mp4::MDIA)?;
    let mdhd = find_child(mdia.body, mp4::MDHD)?;
    let mut r = FieldReader::new(mdhd.body);
    let (version, _) = r.version_flags()?;
    r.versioned_u64(version)?; // creation time
    r.versioned_u64(version)?; // modification time
    let media_timescale = r.u32()?;
    if media_timescale == 0 || movie_timescale == 0 {
        return Err(Mp4Error::Missing { kind: mp4::MDHD });
    }

    let mut mehd_duration = None;
    let mut trex_duration = None;
    if let Ok(mvex) = find_child(moov, mp4::MVEX) {
        // Boxes after a malformed one cannot be found; use what came before.
        for b in Boxes::new(mvex.body).map_while(Result::ok) {
            let mut r = FieldReader::new(b.body);
            match b.kind {
                mp4::MEHD => {
                    let Ok((version, _)) = r.version_flags() else {
                        continue;
                    };
                    let at = base + (mvex.body_offset + b.body_offset + r.pos()) as u64;
                    if let Ok((_, width)) = r.versioned_u64(version) {
                        mehd_duration = Some((at, width));
                    }
                }
                mp4::TREX => {
                    let fields = (|| {
                        r.version_flags()?;
                        let id = r.u32()?;
                        r.skip(4)?; // default_sample_description_index
                        Ok::<_, Mp4Error>((id, r.u32()?))
                    })();
                    if let Some((_, d)) = fields.ok().filter(|(id, _)| *id == track_id) {
                        trex_duration = Some(d);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(MoovInfo {
        movie_timescale,
        mvhd_duration,
        mehd_duration,
        track_id,
        media_timescale,
        trex_duration,
    })
}

/// The end time (in the track's timescale) of the first track's samples
/// in this `moof`: `tfdt` plus the `trun` sample durations. `Ok(None)` if
/// the fragment has no such track; an error if it lacks what the sum needs.
fn fragment_end(moof: &[u8], info: &MoovInfo) -> Result<Option<u64>, Mp4Error> {
    let runs = mp4::parse_moof_with(moof, |id| {
        (id == info.track_id)
            .then_some(info.trex_duration)
            .flatten()
            .map(|duration| mp4::SampleDefaults {
                duration,
                ..Default::default()
            })
    })?;
    Ok(runs
        .iter()
        .filter(|r| r.track_id == info.track_id)
        .map(|r| r.base_decode_time.saturating_add(r.duration()))
        .max())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn not_ours_and_empty() {
        let a = analyze(&mut Cursor::new(b""), 0).unwrap();
        assert_eq!((a.state, a.fragments, a.keep), (State::NoInit, 0, 0));
        let data = bx(b"free", b"");
        let a = analyze(&mut Cursor::new(&data), data.len() as u64).unwrap();
        assert_eq!(a.state, State::NotOurs);
    }

    #[test]
    fn only_camrecs_ftyp_is_ours() {
        // A stranger's fragmented MP4 (ffmpeg's brands), init complete.
        let mut data = bx(b"ftyp", b"iso5\0\0\x02\0iso5iso6mp41");
        data.extend(bx(b"moov", b""));
        let a = analyze(&mut Cursor::new(&data), data.len() as u64).unwrap();
        assert_eq!(a.state, State::NotOurs);
        // Ours, torn inside the `ftyp`: still ours (nothing in it).
        let a = analyze(&mut Cursor::new(&CAMREC_FTYP[..13]), 13).unwrap();
        assert_eq!(a.state, State::NoInit);
    }

    #[test]
    fn mdat_without_moof_is_cut() {
        let mut data = CAMREC_FTYP.to_vec();
        data.extend(bx(b"moov", b""));
        let init = data.len() as u64;
        data.extend(bx(b"mdat", b"xx"));
        let a = analyze(&mut Cursor::new(&data), data.len() as u64).unwrap();
        assert_eq!((a.state, a.fragments, a.keep), (State::Init, 0, init));
        // A fragment, then moof, prft, mdat: the second moof is orphaned
        // and everything from it on is cut.
        let mut data2 = data[..init as usize].to_vec();
        data2.extend(bx(b"moof", b""));
        data2.extend(bx(b"mdat", b""));
        let one = data2.len() as u64;
        data2.extend(bx(b"moof", b""));
        data2.extend(bx(b"prft", b""));
        data2.extend(bx(b"mdat", b""));
        let a = analyze(&mut Cursor::new(&data2), data2.len() as u64).unwrap();
        assert_eq!((a.fragments, a.keep), (1, one));
    }

    proptest! {
        #[test]
        fn analyze_never_panics_on_noise(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut data = CAMREC_FTYP.to_vec();
            data.extend(&tail);
            let a = analyze(&mut Cursor::new(&data), data.len() as u64).unwrap();
            prop_assert!(a.keep <= data.len() as u64);
            let a = analyze(&mut Cursor::new(&tail), tail.len() as u64).unwrap();
            prop_assert!(a.keep <= tail.len() as u64);
        }

        #[test]
        fn moov_and_moof_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let info = MoovInfo {
                movie_timescale: 1000,
                mvhd_duration: (0, 8),
                mehd_duration: None,
                track_id: 1,
                media_timescale: 90_000,
                trex_duration: Some(3000),
            };
            let _ = parse_moov(&body, 0);
            let _ = fragment_end(&body, &info);
            // Also with the noise wrapped in plausible containers.
            let traf = bx(b"traf", &body);
            let _ = fragment_end(&traf, &info);
            let _ = parse_moov(&bx(b"mvhd", &body), 0);
        }
    }
}
