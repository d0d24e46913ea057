//! Full-box flags and sample flags (ISO/IEC 14496-12).

/// `tfhd`: a `base_data_offset` field follows the track id.
pub const TFHD_BASE_DATA_OFFSET: u32 = 0x00_0001;
/// `tfhd`: a `sample_description_index` field is present.
pub const TFHD_SAMPLE_DESCRIPTION_INDEX: u32 = 0x00_0002;
/// `tfhd`: a `default_sample_duration` field is present.
pub const TFHD_DEFAULT_DURATION: u32 = 0x00_0008;
/// `tfhd`: a `default_sample_size` field is present.
pub const TFHD_DEFAULT_SIZE: u32 = 0x00_0010;
/// `tfhd`: a `default_sample_flags` field is present.
pub const TFHD_DEFAULT_FLAGS: u32 = 0x00_0020;
/// `tfhd`: data offsets are relative to the enclosing `moof`.
pub const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

/// `trun`: a `data_offset` field is present.
pub const TRUN_DATA_OFFSET: u32 = 0x00_0001;
/// `trun`: a `first_sample_flags` field is present.
pub const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x00_0004;
/// `trun`: every sample has a duration.
pub const TRUN_SAMPLE_DURATION: u32 = 0x00_0100;
/// `trun`: every sample has a size.
pub const TRUN_SAMPLE_SIZE: u32 = 0x00_0200;
/// `trun`: every sample has flags.
pub const TRUN_SAMPLE_FLAGS: u32 = 0x00_0400;
/// `trun`: every sample has a composition time offset.
pub const TRUN_SAMPLE_COMPOSITION_OFFSET: u32 = 0x00_0800;
/// `trun`: the per-sample fields present, each 4 bytes.
pub const TRUN_PER_SAMPLE_FIELDS: u32 =
    TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS | TRUN_SAMPLE_COMPOSITION_OFFSET;

/// Sample flags of a non-sync sample that depends on others.
pub const SAMPLE_FLAGS_NON_SYNC: u32 = 0x0101_0000;
/// Sample flags of a sync sample that depends on no other (keyframes, audio).
pub const SAMPLE_FLAGS_SYNC: u32 = 0x0200_0000;
