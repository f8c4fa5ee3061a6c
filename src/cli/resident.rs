//! The resident set once serving. Start-up runs much code no request runs again (configuration,
//! migrations, key and plugin loading, the command line), and the kernel maps the cached pages
//! around every code page touched (64 KiB runs): most of the program's code is resident before
//! the first request. Dropping the executable mappings' pages once started leaves them in the
//! page cache, and each comes back on first use: only the code that requests run stays
//! resident. It applies to read-only executable mappings alone, whose pages always equal the
//! file's (a debugger's breakpoints in them would be dropped too).

/// Drops this process's executable file-backed pages (Linux); the kernel maps them back from
/// the page cache as they are run.
pub fn release_startup_code() {
    #[cfg(target_os = "linux")]
    {
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        let mut released = 0usize;
        for (start, end) in maps.lines().filter_map(executable_file_mapping) {
            // SAFETY: the range is a whole private mapping that can be neither written nor
            // moved (r-xp): MADV_DONTNEED only unmaps its pages, which fault back in unchanged
            // from the file.
            let rc = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
            if rc == 0 {
                released += end - start;
            }
        }
        tracing::debug!(mapped_bytes = released, "start-up code pages released");
    }
}

/// `start-end r-xp offset dev inode /path` → (start, end), for a file's executable mapping.
fn executable_file_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let path = fields.nth(3)?;
    if perms != "r-xp" || !path.starts_with('/') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    (end > start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::executable_file_mapping;

    #[test]
    fn only_private_executable_file_mappings_are_released() {
        let text = "5600a3f1d000-5600a4f98000 r-xp 0040e000 fe:00 10010840   /usr/bin/consentry";
        assert_eq!(
            executable_file_mapping(text),
            Some((0x5600a3f1d000, 0x5600a4f98000))
        );
        for kept in [
            // RELRO: relocated at load time, its pages differ from the file's.
            "5600a4f98000-5600a5036000 r--p 01488000 fe:00 10010840   /usr/bin/consentry",
            "5600a5036000-5600a5040000 rw-p 01526000 fe:00 10010840   /usr/bin/consentry",
            "7ffd52ae6000-7ffd52b07000 r-xp 00000000 00:00 0          [vdso]",
            "503bfc00000-503ffc00000 rw-p 00000000 00:00 0",
            "7fc1a70c5000-7fc1a7342000 r-xs 000c5000 fe:00 326305     /dev/shm/x",
        ] {
            assert_eq!(executable_file_mapping(kept), None, "{kept}");
        }
    }
}
