//! The FUSE protocol: ABI, request decoding, dispatch and reply encoding.

pub mod abi;
