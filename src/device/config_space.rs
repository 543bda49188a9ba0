//! The virtio-fs device configuration space (`struct virtio_fs_config`).

/// Length of the tag field.
pub(crate) const TAG_LEN: usize = 36;

/// Encodes the config space: the tag (NUL padded) and the number of request
/// queues, little endian, and a zero notify buffer size.
pub(crate) fn encode(tag: &str, num_request_queues: u32) -> [u8; TAG_LEN + 8] {
    let mut config = [0u8; TAG_LEN + 8];
    let bytes = tag.as_bytes();
    let len = bytes.len().min(TAG_LEN);
    config[..len].copy_from_slice(&bytes[..len]);
    config[TAG_LEN..TAG_LEN + 4].copy_from_slice(&num_request_queues.to_le_bytes());
    config
}

/// The part of `config` a GET_CONFIG for (`offset`, `size`) asks for; empty
/// when the range is out of bounds.
pub(crate) fn slice(config: &[u8], offset: u32, size: u32) -> Vec<u8> {
    let start = offset as usize;
    let end = start.saturating_add(size as usize);
    config
        .get(start..end)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_and_queue_count_are_laid_out_like_virtio_fs_config() {
        let config = encode("share", 4);
        assert_eq!(&config[..5], b"share");
        assert!(config[5..TAG_LEN].iter().all(|&b| b == 0));
        assert_eq!(&config[TAG_LEN..TAG_LEN + 4], &4u32.to_le_bytes());
    }

    #[test]
    fn out_of_range_reads_are_empty() {
        let config = encode("share", 1);
        assert!(slice(&config, 40, 8).is_empty());
        assert_eq!(slice(&config, 36, 4), 1u32.to_le_bytes().to_vec());
    }
}
