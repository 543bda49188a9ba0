//! `--trace-epochs`: a JSON-lines record of every request that joins a
//! SYNCFS epoch and of every SYNCFS, so that a test harness can check the
//! durability guarantee from outside the daemon.
//!
//! One line per request, written when its reply has been written into the
//! guest's buffer (the device puts it on the used ring right after):
//!
//! ```text
//! {"op":"WRITE","queue":1,"unique":42,"nodeid":7,"epoch":3,
//!  "received_us":1200,"executed_us":1210,"done_us":3001250,"answered_us":3001260,"error":0}
//! ```
//!
//! Times are microseconds on the monotonic clock since the trace was opened.
//! `received` is when the request was taken off its queue (and joined its
//! epoch or, for SYNCFS, closed it), `executed` when a worker started it,
//! `done` when the host work finished (a member leaves its epoch there; a
//! SYNCFS has waited and flushed), `answered` when the reply was written.
//! For a member, `epoch` is the epoch it joined; for a SYNCFS, the epoch it
//! closed: it covers every member whose epoch is `<=` that number.
//!
//! Each line goes to the file with one `write(2)` on an `O_APPEND`
//! descriptor, so the trace survives a crash up to the last answered request.
//! Tracing costs a syscall per traced request and is meant for testing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use crate::fuse::abi::Opcode;

/// The open trace file.
#[derive(Debug)]
pub struct EpochTrace {
    file: Mutex<File>,
    start: Instant,
}

/// What is known about one traced request while it is in flight.
#[derive(Debug, Clone, Copy)]
pub struct TraceStamp {
    pub(crate) opcode: Opcode,
    pub(crate) queue: usize,
    pub(crate) unique: u64,
    pub(crate) nodeid: u64,
    /// Joined (member) or closed (SYNCFS) epoch; `None` until known.
    pub(crate) epoch: Option<u64>,
    pub(crate) received: Instant,
    pub(crate) executed: Option<Instant>,
    pub(crate) done: Option<Instant>,
}

impl TraceStamp {
    pub(crate) fn new(opcode: Opcode, queue: usize, unique: u64, nodeid: u64) -> Self {
        TraceStamp {
            opcode,
            queue,
            unique,
            nodeid,
            epoch: None,
            received: Instant::now(),
            executed: None,
            done: None,
        }
    }
}

impl EpochTrace {
    /// Creates (or truncates) the trace file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        // Reopen in append mode so concurrent lines never interleave inside a
        // line even if another process appends too.
        drop(file);
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(EpochTrace {
            file: Mutex::new(file),
            start: Instant::now(),
        })
    }

    /// Writes the line for a request answered now with `errno` (0 = success).
    pub(crate) fn record(&self, stamp: &TraceStamp, errno: i32) {
        let answered = Instant::now();
        let line = self.format(stamp, answered, errno);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(err) = file.write_all(line.as_bytes()) {
            crate::warn_limited!("cannot write the epoch trace: {err}");
        }
    }

    fn micros(&self, at: Option<Instant>) -> String {
        match at {
            Some(at) => at
                .saturating_duration_since(self.start)
                .as_micros()
                .to_string(),
            None => "null".to_string(),
        }
    }

    fn format(&self, s: &TraceStamp, answered: Instant, errno: i32) -> String {
        let epoch = s
            .epoch
            .map_or_else(|| "null".to_string(), |e| e.to_string());
        format!(
            "{{\"op\":\"{}\",\"queue\":{},\"unique\":{},\"nodeid\":{},\"epoch\":{},\
             \"received_us\":{},\"executed_us\":{},\"done_us\":{},\"answered_us\":{},\"error\":{}}}\n",
            s.opcode.name(),
            s.queue,
            s.unique,
            s.nodeid,
            epoch,
            self.micros(Some(s.received)),
            self.micros(s.executed),
            self.micros(s.done),
            self.micros(Some(answered)),
            errno
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_every_field() {
        let dir = std::env::temp_dir().join(format!("epochfsd-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        let trace = EpochTrace::create(&path).unwrap();
        let mut stamp = TraceStamp::new(Opcode::Write, 2, 42, 7);
        stamp.epoch = Some(3);
        stamp.executed = Some(Instant::now());
        stamp.done = Some(Instant::now());
        trace.record(&stamp, 0);
        let mut syncfs = TraceStamp::new(Opcode::Syncfs, 1, 43, 1);
        syncfs.epoch = None;
        trace.record(&syncfs, libc::EIO);

        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0]
            .starts_with("{\"op\":\"WRITE\",\"queue\":2,\"unique\":42,\"nodeid\":7,\"epoch\":3,"));
        assert!(lines[0].ends_with("\"error\":0}"));
        assert!(lines[1].contains("\"epoch\":null") && lines[1].contains("\"executed_us\":null"));
        assert!(lines[1].ends_with(&format!("\"error\":{}}}", libc::EIO)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
