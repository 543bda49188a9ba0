//! Request handlers, one file per operation family. Each handler decodes its
//! arguments, calls the filesystem, and encodes the reply.

mod attr;
mod dir;
mod entry;
pub(crate) mod extensions;
mod file;
mod misc;
mod session;
