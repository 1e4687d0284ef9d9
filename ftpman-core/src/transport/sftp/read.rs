//! Reading a small file whose size a listing gave: every read request goes out at once, with one
//! more at the listed end that must answer end-of-file, so the whole file arrives in one round
//! trip and a file that grew since it was listed is noticed.
//!
//! russh-sftp's own reader probes with one read, then keeps 64 more in flight whatever the
//! file's size: for a 16 KiB file that is 65 requests and 64 end-of-file replies through the
//! cipher, where this needs two. Large files keep the streaming reader, whose memory is bounded.

use futures_util::future::join_all;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;

/// Files with at most this many bytes left to read are fetched whole into memory.
pub(super) const SMALL_FILE: u64 = 1024 * 1024;

/// The length of each read request (OpenSSH serves up to 255 KiB per read).
const CHUNK: u32 = 64 * 1024;

/// Why a small file could not be fetched.
#[derive(Debug)]
pub(super) enum FetchError {
    /// The server refused or failed a read.
    Sftp(SftpError),
    /// The file's size is no longer the listed one.
    Changed(String),
}

fn is_eof(result: &Result<Vec<u8>, SftpError>) -> bool {
    match result {
        Ok(data) => data.is_empty(),
        Err(SftpError::Status(s)) => s.status_code == StatusCode::Eof,
        Err(_) => false,
    }
}

/// Reads `handle` from `offset` to the listed `size`, and checks that the file ends there.
pub(super) async fn fetch_small(
    raw: &RawSftpSession,
    handle: &str,
    offset: u64,
    size: u64,
) -> Result<Vec<u8>, FetchError> {
    let starts: Vec<u64> = (offset..size).step_by(CHUNK as usize).chain([size]).collect();
    let replies = join_all(
        starts
            .iter()
            .map(|&at| async move { raw.read(handle, at, CHUNK).await.map(|d| d.data) }),
    )
    .await;
    let mut data = Vec::with_capacity((size - offset) as usize);
    let mut pos = offset;
    for (&at, reply) in starts.iter().zip(replies) {
        if at != pos {
            // A short read left a gap: the rest is read one request at a time below.
            break;
        }
        if is_eof(&reply) {
            return finish(data, size, pos);
        }
        let chunk = reply.map_err(FetchError::Sftp)?;
        pos += chunk.len() as u64;
        data.extend_from_slice(&chunk);
    }
    // Servers may answer a read with fewer bytes than asked; carry on from there until the end,
    // but not far past the listed size.
    loop {
        if pos > size {
            return Err(FetchError::Changed(format!(
                "it has grown past the {size} bytes listed"
            )));
        }
        let reply = raw.read(handle, pos, CHUNK).await.map(|d| d.data);
        if is_eof(&reply) {
            return finish(data, size, pos);
        }
        let chunk = reply.map_err(FetchError::Sftp)?;
        pos += chunk.len() as u64;
        data.extend_from_slice(&chunk);
    }
}

fn finish(data: Vec<u8>, size: u64, end: u64) -> Result<Vec<u8>, FetchError> {
    match end.cmp(&size) {
        std::cmp::Ordering::Equal => Ok(data),
        std::cmp::Ordering::Less => Err(FetchError::Changed(format!(
            "it has {end} bytes, not the {size} listed"
        ))),
        std::cmp::Ordering::Greater => Err(FetchError::Changed(format!(
            "it has grown past the {size} bytes listed"
        ))),
    }
}
