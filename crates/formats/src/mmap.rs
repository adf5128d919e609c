//! [`Storage`]: the bytes behind a model's tensors, and the single place where files are
//! memory-mapped, together with the guard that turns a file shrinking under its map into an
//! error instead of a crash.
//!
//! # Files that change while they are mapped
//!
//! A read from a page of a shared file map whose file was truncated past that page raises
//! `SIGBUS`, and its default action kills the process. Model files come from strangers and may
//! be rewritten (a download finishing, a training job saving a checkpoint) while we read them,
//! so on Linux and macOS every map is registered in a fixed table ([`SLOTS`]) and a process-wide
//! `SIGBUS`/`SIGSEGV` handler is installed once, when the first file is mapped:
//!
//! - A fault (`si_code > 0`, so the kernel raised it) whose address lies in one of our maps is
//!   repaired: the handler maps one anonymous zero page over the faulting page with
//!   `mmap(MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE)`, marks that map changed and returns, so the
//!   interrupted read continues and sees zeros.
//! - Anything else (a fault elsewhere, a signal sent with `kill`) goes to the handler that was
//!   installed before ours (Rust's stack-overflow reporter, or the default action, restored and
//!   re-raised), so unrelated crashes behave exactly as without us.
//!
//! The readers never report numbers computed on those zeros: [`Storage::changed`] (through
//! `Model::check_unchanged`) is checked after every piece of work the engine does and after
//! parsing ([`watch_maps`]), and a set flag becomes `Error::Changed` ("file changed while
//! reading").
//!
//! The handler is async-signal-safe: it only loads atomics from a static array, stores one
//! atomic flag, and makes the `mmap`, `sigaction` and `raise` system calls (`mmap` is not on
//! POSIX's list, but on Linux and macOS the libc wrapper is a bare system call that takes no
//! lock). The table is lock-free: a slot is claimed with a compare-and-swap, filled, then
//! published; it is withdrawn before its map is unmapped. When all [`MAX_GUARDED_MAPS`] slots
//! are taken, further maps still work, unguarded. Other platforms map without a guard.
//!
//! Rewriting a file in place without changing its size is not detected: no fault happens, and a
//! reader would have to reread every byte to notice.

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Bytes backing one or more tensors: a read-only memory map or an owned buffer
/// (a decompressed payload, or bytes handed to [`crate::open_bytes`]).
#[derive(Debug)]
pub(crate) enum Storage {
    /// A read-only map of a whole file.
    Mapped(Mapped),
    /// Bytes owned in memory.
    Owned(Vec<u8>),
}

/// A read-only file map and its registration with the fault guard.
#[derive(Debug)]
pub(crate) struct Mapped {
    // Field order matters: `guard` is dropped (its slot withdrawn) before `map` is unmapped.
    guard: Option<guard::Guard>,
    map: memmap2::Mmap,
    path: PathBuf,
}

/// The maps made inside one [`watch_maps`]: each file's path and changed flag.
type Watched = Vec<(PathBuf, Arc<AtomicBool>)>;

thread_local! {
    /// The maps made on this thread inside [`watch_maps`], when one is running.
    static WATCHED: RefCell<Option<Watched>> = const { RefCell::new(None) };
}

/// Runs `open`, which maps files on this thread, and returns [`Error::Changed`] if any file it
/// mapped faulted while it was read (whatever `open` returned: an error computed from the
/// zeros the guard mapped in is not the file's fault).
pub(crate) fn watch_maps<T>(open: impl FnOnce() -> Result<T>) -> Result<T> {
    let outer = WATCHED.with(|w| w.borrow_mut().replace(Vec::new()));
    let result = open();
    let watched = WATCHED.with(|w| std::mem::replace(&mut *w.borrow_mut(), outer));
    if let Some((path, _)) = watched
        .unwrap_or_default()
        .into_iter()
        .find(|(_, flag)| flag.load(Ordering::Acquire))
    {
        return Err(Error::Changed { path });
    }
    result
}

impl Storage {
    /// Maps `path` read-only, guarded against the file shrinking (see the module docs).
    ///
    /// Zero-length files cannot be mapped on every platform; they become an empty owned buffer.
    pub(crate) fn map(path: &Path) -> Result<Storage> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Ok(Storage::Owned(Vec::new()));
        }
        guard::install();
        // SAFETY: the map is read-only, private to this `Storage`, and never handed out
        // mutably; we never write to inputs. Another process may still truncate or rewrite the
        // file while it is mapped: a read past the new end raises SIGBUS, which the handler of
        // `guard` turns into zeros plus a changed flag (checked before any result is reported),
        // and an in-place rewrite only changes the bytes we read, never memory safety, since
        // every access is a plain byte read from a map that stays valid until we unmap it.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let guard = guard::Guard::register(map.as_ptr() as usize, map.len());
        if let Some(g) = &guard {
            WATCHED.with(|w| {
                if let Some(list) = w.borrow_mut().as_mut() {
                    list.push((path.to_path_buf(), g.flag()));
                }
            });
        }
        Ok(Storage::Mapped(Mapped {
            guard,
            map,
            path: path.to_path_buf(),
        }))
    }

    /// The stored bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => &m.map,
            Storage::Owned(v) => v,
        }
    }

    /// The mapped file whose bytes changed (shrank) under its map, if that happened.
    pub(crate) fn changed(&self) -> Option<&Path> {
        match self {
            Storage::Mapped(Mapped {
                guard: Some(g),
                path,
                ..
            }) if g.changed() => Some(path),
            _ => None,
        }
    }
}

/// Largest number of maps guarded at once: every shard of the largest sharded checkpoints we
/// know of (a few hundred files) for both sides of a diff.
pub(crate) const MAX_GUARDED_MAPS: usize = 1024;

#[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
mod guard {
    //! The fault handler and its lock-free registry of mapped ranges.

    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};

    use super::MAX_GUARDED_MAPS;

    const FREE: u8 = 0;
    const CLAIMED: u8 = 1;
    const ACTIVE: u8 = 2;

    /// One registered map: `[start, start + len)` and a pointer to its changed flag.
    pub(crate) struct Slot {
        state: AtomicU8,
        start: AtomicUsize,
        len: AtomicUsize,
        flag: AtomicPtr<AtomicBool>,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        state: AtomicU8::new(FREE),
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        flag: AtomicPtr::new(std::ptr::null_mut()),
    };

    /// The registry the handler searches (a fixed array: the handler may not allocate or lock).
    pub(crate) static SLOTS: [Slot; MAX_GUARDED_MAPS] = [EMPTY; MAX_GUARDED_MAPS];

    /// The system page size, read once at install time.
    static PAGE: AtomicUsize = AtomicUsize::new(0);

    /// The actions in place before ours, for faults that are not ours.
    static OLD_BUS: OnceLock<libc::sigaction> = OnceLock::new();
    static OLD_SEGV: OnceLock<libc::sigaction> = OnceLock::new();

    /// A registered map; dropping it withdraws the registration.
    #[derive(Debug)]
    pub(crate) struct Guard {
        slot: usize,
        flag: Arc<AtomicBool>,
    }

    impl Guard {
        /// Registers `[start, start + len)`; `None` when every slot is taken or the handler could
        /// not be installed.
        pub(crate) fn register(start: usize, len: usize) -> Option<Guard> {
            if PAGE.load(Ordering::Acquire) == 0 {
                return None;
            }
            let flag = Arc::new(AtomicBool::new(false));
            for (i, s) in SLOTS.iter().enumerate() {
                if s.state
                    .compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    s.start.store(start, Ordering::Relaxed);
                    s.len.store(len, Ordering::Relaxed);
                    s.flag
                        .store(Arc::as_ptr(&flag).cast_mut(), Ordering::Relaxed);
                    // Publishes the fields above to the handler.
                    s.state.store(ACTIVE, Ordering::Release);
                    return Some(Guard { slot: i, flag });
                }
            }
            None
        }

        /// A handle on the changed flag.
        pub(crate) fn flag(&self) -> Arc<AtomicBool> {
            Arc::clone(&self.flag)
        }

        /// Whether a read faulted in this map.
        pub(crate) fn changed(&self) -> bool {
            self.flag.load(Ordering::Acquire)
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            // The map is still mapped here (it is dropped after the guard) and nobody reads it
            // any more, so the handler cannot be using this slot's flag pointer.
            let s = &SLOTS[self.slot];
            s.state.store(CLAIMED, Ordering::Release);
            s.flag.store(std::ptr::null_mut(), Ordering::Relaxed);
            s.state.store(FREE, Ordering::Release);
        }
    }

    /// Installs the handler for SIGBUS and SIGSEGV, once per process.
    pub(crate) fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let Ok(page) = usize::try_from(page) else {
                return;
            };
            if !page.is_power_of_two() {
                return;
            }
            PAGE.store(page, Ordering::Release);
            for (sig, old) in [(libc::SIGBUS, &OLD_BUS), (libc::SIGSEGV, &OLD_SEGV)] {
                // SAFETY: both structs are zero-initialised plain C data (a valid `sigaction`
                // with an empty mask), `handler` has the `SA_SIGINFO` signature, and
                // `sigaction` only reads `new` and writes `prev`.
                unsafe {
                    let mut new: libc::sigaction = std::mem::zeroed();
                    let mut prev: libc::sigaction = std::mem::zeroed();
                    new.sa_sigaction = handler as *const () as usize;
                    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut new.sa_mask);
                    if libc::sigaction(sig, &new, &mut prev) == 0 {
                        let _ = old.set(prev);
                    }
                }
            }
        });
    }

    /// The address a kernel-raised fault is about.
    ///
    /// # Safety
    /// `info` must be the `siginfo_t` the kernel passed to a `SA_SIGINFO` handler for SIGBUS or
    /// SIGSEGV with `si_code > 0`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe fn fault_addr(info: *const libc::siginfo_t) -> usize {
        // SAFETY: the caller guarantees a kernel fault `siginfo_t`, whose union holds `si_addr`.
        unsafe { (*info).si_addr() as usize }
    }

    /// The address a kernel-raised fault is about.
    ///
    /// # Safety
    /// As on Linux.
    #[cfg(target_os = "macos")]
    unsafe fn fault_addr(info: *const libc::siginfo_t) -> usize {
        // SAFETY: the caller guarantees a kernel fault `siginfo_t`; `si_addr` is a plain field.
        unsafe { (*info).si_addr as usize }
    }

    /// The registered map holding `addr`, by slot.
    fn find(addr: usize) -> Option<&'static Slot> {
        SLOTS.iter().find(|s| {
            if s.state.load(Ordering::Acquire) != ACTIVE {
                return false;
            }
            let start = s.start.load(Ordering::Relaxed);
            let len = s.len.load(Ordering::Relaxed);
            addr >= start && addr - start < len
        })
    }

    extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler.
        let code = unsafe { (*info).si_code };
        if code > 0 {
            // SAFETY: `code > 0` means the kernel raised this fault, so `si_addr` is set.
            let addr = unsafe { fault_addr(info) };
            if let Some(slot) = find(addr) {
                let page = PAGE.load(Ordering::Relaxed);
                let at = addr & !(page - 1);
                // SAFETY: `at` is a page inside one of our read-only maps, which stays mapped
                // until its guard is withdrawn; replacing that page with a private anonymous
                // zero page changes only what our own readers see, and MAP_FIXED over a range we
                // own is the documented way to do so.
                let r = unsafe {
                    libc::mmap(
                        at as *mut libc::c_void,
                        page,
                        libc::PROT_READ,
                        libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                if r != libc::MAP_FAILED {
                    let flag = slot.flag.load(Ordering::Acquire);
                    if !flag.is_null() {
                        // SAFETY: the flag is owned by the slot's live `Guard`, which outlives
                        // every read of its map.
                        unsafe { (*flag).store(true, Ordering::Release) };
                    }
                    return;
                }
            }
        }
        let old = if sig == libc::SIGBUS {
            OLD_BUS.get()
        } else {
            OLD_SEGV.get()
        };
        // SAFETY: `old` is the action that was installed before ours (or none); calling it with
        // the arguments we were given is what the kernel would have done without us.
        unsafe { chain(sig, info, ctx, old) };
    }

    /// Hands a signal that is not ours to the previous action.
    ///
    /// # Safety
    /// Must be called from the signal handler, with its arguments.
    unsafe fn chain(
        sig: libc::c_int,
        info: *mut libc::siginfo_t,
        ctx: *mut libc::c_void,
        old: Option<&libc::sigaction>,
    ) {
        let handler = old.map_or(libc::SIG_DFL, |o| o.sa_sigaction);
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: restoring the default action, then re-raising: a kernel fault re-executes
            // the faulting instruction on return and a signal sent with `kill` is delivered
            // when the handler returns (it is blocked while we run), either way with the default
            // action, as if we had never been installed.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigemptyset(&mut dfl.sa_mask);
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
                if (*info).si_code <= 0 {
                    libc::raise(sig);
                }
            }
            return;
        }
        let siginfo = old.is_some_and(|o| o.sa_flags & libc::SA_SIGINFO != 0);
        if siginfo {
            // SAFETY: the previous handler was installed with `SA_SIGINFO`, so this is its
            // signature, and we pass the kernel's own arguments.
            unsafe {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(handler);
                f(sig, info, ctx);
            }
        } else {
            // SAFETY: the previous handler was installed without `SA_SIGINFO`, so it takes the
            // signal number only.
            unsafe {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                f(sig);
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
mod guard {
    //! No fault guard on this platform: maps are unguarded.

    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// Never constructed here.
    #[derive(Debug)]
    pub(crate) struct Guard {
        flag: Arc<AtomicBool>,
    }

    impl Guard {
        pub(crate) fn register(_start: usize, _len: usize) -> Option<Guard> {
            None
        }
        pub(crate) fn flag(&self) -> Arc<AtomicBool> {
            Arc::clone(&self.flag)
        }
        pub(crate) fn changed(&self) -> bool {
            false
        }
    }

    pub(crate) fn install() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard tests share the slot table; one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn file_of(len: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
        std::io::Write::write_all(&mut f, &bytes).unwrap();
        f
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
    fn truncation_reads_zeros_and_sets_the_flag() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let f = file_of(1 << 20);
        let s = Storage::map(f.path()).unwrap();
        assert!(s.changed().is_none());
        f.as_file().set_len(4096).unwrap();
        let b = s.bytes();
        // Still readable before the new end, zeros (not a crash) after it.
        assert_eq!(b[0], 1);
        assert_eq!(b[(1 << 20) - 1], 0);
        assert!(b[8192..].iter().all(|&x| x == 0));
        assert_eq!(s.changed(), Some(f.path()));
        drop(s);
        // The slot is released again.
        let s2 = Storage::map(f.path()).unwrap();
        assert!(s2.changed().is_none());
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
    fn watch_maps_reports_a_change_during_open() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let f = file_of(1 << 16);
        let r = watch_maps(|| {
            let s = Storage::map(f.path())?;
            f.as_file().set_len(0).unwrap();
            Ok(s.bytes().iter().map(|&b| b as u64).sum::<u64>())
        });
        match r {
            Err(Error::Changed { path }) => assert_eq!(path, f.path()),
            other => panic!("expected Changed, got {other:?}"),
        }
        // Without a change the result passes through.
        let g = file_of(100);
        assert_eq!(
            watch_maps(|| Ok(Storage::map(g.path())?.bytes().len())).unwrap(),
            100
        );
    }

    #[test]
    fn many_maps_beyond_the_table_still_work() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let f = file_of(10);
        let maps: Vec<Storage> = (0..MAX_GUARDED_MAPS + 8)
            .map(|_| Storage::map(f.path()).unwrap())
            .collect();
        assert!(maps.iter().all(|m| m.bytes().len() == 10));
    }
}
