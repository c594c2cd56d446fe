//! CPU time and memory of the server under test (read from `/proc/<pid>/`) and of this process
//! (`getrusage`).
//!
//! The server's CPU seconds are `utime + stime` of `/proc/<pid>/stat` (all its threads), sampled
//! before and after the timed phase. Its memory is `VmRSS` sampled every
//! [`RSS_SAMPLE_INTERVAL`] by a plain thread during the timed phase (the peak of the phase) and
//! `VmHWM` after it (the peak of the process's life, setup included).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// User plus system CPU seconds of process `pid`, all threads.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / clock_ticks_per_second())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/pid/stat"))
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces; fields after the
    // last ')' start at field 3 (state). utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// A `Vm*` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, key: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status_kib(&status, key).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no {key} in /proc/{pid}/status"),
        )
    })
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// User plus system CPU seconds of this process so far, all threads.
pub fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU seconds every process of the machine has used so far (all CPUs, `/proc/stat`): user,
/// nice, system, irq, softirq and steal time. Less the server's and the client's, it shows what
/// else ran during a timed phase.
pub fn machine_cpu_seconds() -> io::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    parse_machine_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / clock_ticks_per_second())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/stat"))
}

/// Busy ticks of the `cpu` line of `/proc/stat` (guest time is already in user and nice).
fn parse_machine_cpu_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal …
    let busy = [0, 1, 2, 5, 6, 7];
    busy.iter().map(|&i| fields.get(i).copied()).sum()
}

/// User plus system CPU seconds of the calling thread so far.
pub fn thread_cpu_seconds() -> f64 {
    // SAFETY: clock_gettime writes into the struct we own; the clock id is always valid.
    let time = unsafe {
        let mut time: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time);
        time
    };
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

/// Samples a process's `VmRSS` on a background thread until stopped; returns the peak in KiB.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_seen = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rss-sampler".to_owned())
            .spawn(move || {
                let mut peak_kib = 0;
                loop {
                    if let Ok(kib) = status_kib(pid, "VmRSS") {
                        peak_kib = peak_kib.max(kib);
                    }
                    if stop_seen.load(Ordering::Relaxed) {
                        return peak_kib;
                    }
                    std::thread::sleep(RSS_SAMPLE_INTERVAL);
                }
            })
            .expect("spawn the RSS sampler thread");
        RssSampler { stop, thread }
    }

    /// Stops sampling (after one last sample) and returns the peak `VmRSS` in KiB.
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_fields_are_found_after_the_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        let stat = "4242 (docker (registry)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(300));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_lines_are_parsed_in_kib() {
        let status = "Name:\tberth\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(65432));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(123456));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn machine_cpu_counts_busy_time_only() {
        let stat = "cpu  100 2 30 5000 40 5 6 7 0 0\ncpu0 50 1 15 2500 20 2 3 3 0 0\n";
        assert_eq!(
            parse_machine_cpu_ticks(stat),
            Some(100 + 2 + 30 + 5 + 6 + 7)
        );
        assert_eq!(parse_machine_cpu_ticks("intr 1 2 3\n"), None);
        assert!(machine_cpu_seconds().unwrap() > 0.0);
    }

    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_ok());
        assert!(status_kib(pid, "VmRSS").unwrap() > 0);
        assert!(self_cpu_seconds() >= 0.0);
        assert!(thread_cpu_seconds() >= 0.0);
    }
}
