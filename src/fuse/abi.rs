//! FUSE ABI (placeholder).
