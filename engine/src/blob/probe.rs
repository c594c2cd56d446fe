//! Settles glommio's polled-I/O decision correctly, once per thread and device.
//!
//! glommio decides per thread and device whether to submit O_DIRECT reads to its polled
//! (IOPOLL) ring by reading the first block of the first file it opens there. If that file is
//! empty — a new upload — the read "succeeds" without touching the device, polled I/O is
//! wrongly enabled, and every later read of real data fails with EOPNOTSUPP on devices without
//! poll queues (virtio disks, for one). So before the first DMA open on a device, each thread
//! opens a small file that holds data, and glommio's probe tells the truth.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes in the probe file: more than any device's logical block.
const PROBE_FILE_BYTES: usize = 64 << 10;

static PROBE_SEQUENCE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static PROBED_DEVICES: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

/// Call before opening a file in `dir` with DMA. The probe file is written in `dir` too, so
/// give the store's scratch directory (`uploads/`) when it is on the same device.
pub(super) async fn ensure_probed(dir: &Path) -> io::Result<()> {
    let device = std::fs::metadata(dir)?.dev();
    if PROBED_DEVICES.with(|p| p.borrow().contains(&device)) {
        return Ok(());
    }
    // A name of its own for every call: two requests on one thread may both get here before
    // either marks the device probed, and neither may remove the other's file.
    let n = PROBE_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let probe = dir.join(format!(".iopoll-probe-{}-{n}", std::process::id()));
    std::fs::write(&probe, vec![0u8; PROBE_FILE_BYTES])?;
    let opened = glommio::io::DmaFile::open(&probe).await;
    let _ = std::fs::remove_file(&probe);
    opened?.close().await?;
    PROBED_DEVICES.with(|p| p.borrow_mut().insert(device));
    Ok(())
}
