// SPDX-License-Identifier: GPL-2.0
//! `marsadm log-dump FILE [--json]`: list the records of a transaction logfile and report
//! its defects.
//!
//! The file is read in windows, so logfiles of any size work in bounded memory. Each record
//! is scanned and verified by mars-core's scanner with the host digests and LZ4. After a
//! defect the dump goes on: past the damaged record when its frame is intact (checksum,
//! sequence gap, decompression), else from the next start magic found at any byte offset.
//! Zeros from the end of the last record up to EOF are a *zero tail* (a running logger
//! writes zeros ahead of its records), no defect; a first defect followed by zeros up to EOF
//! (at least `MIN_ZERO_TAIL` of them) within `MAX_TORN_WRITE` is one defect of class `torn-tail` (the interrupted last write of a
//! crash, which recovery discards), as crash recovery judges them.
//! Exit status: 0 clean (warnings allowed), 1 a defect was found, 2 usage or I/O error.

use mars_core::log_record::MAX_RECORD_LEN;
use mars_core::log_recovery::{MAX_TORN_WRITE, MIN_ZERO_TAIL};
use mars_core::log_scan::{
    find_start_magic, scan_record, LengthField, Record, ScanContext, ScanError, ScanErrorKind,
    ScanState,
};
use mars_host::{HostCompressor, HostDigester};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `log-dump`.
#[derive(clap::Args)]
pub(crate) struct LogDumpArgs {
    /// The logfile, e.g. /mars/resource-r0/log-000000001-hostA.
    file: PathBuf,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// Size of one read; windows hold at least two maximal records beyond the scan position.
const READ_SIZE: usize = 1 << 20;
/// Defects kept in the report (the first is what matters; the count is always exact).
const MAX_DEFECTS: usize = 1000;

/// A window onto the file: `buf[start..]` begins at file offset `base + start`.
struct Reader {
    file: File,
    buf: Vec<u8>,
    start: usize,
    base: u64,
    eof: bool,
}

impl Reader {
    fn window(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// Offset of the window start in the file.
    fn pos(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Moves the window start to file offset `pos` (>= current) and makes sure the window
    /// holds at least `2 * MAX_RECORD_LEN` bytes unless the file ends first.
    fn seek(&mut self, pos: u64) -> io::Result<()> {
        loop {
            let rel = pos.saturating_sub(self.base);
            if rel > self.buf.len() as u64 {
                // Beyond what is buffered: drop everything and read on.
                self.base += self.buf.len() as u64;
                self.buf.clear();
                self.start = 0;
                if self.eof {
                    return Ok(());
                }
                self.fill()?;
                continue;
            }
            self.start = rel as usize;
            if self.eof || self.window().len() >= 2 * MAX_RECORD_LEN {
                return Ok(());
            }
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let old = self.buf.len();
        self.buf.resize(old + READ_SIZE, 0);
        let mut got = 0;
        while got < READ_SIZE {
            match self.file.read(&mut self.buf[old + got..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(old + got);
        Ok(())
    }
}

fn code_name(code: i16) -> &'static str {
    match code {
        0 => "unknown",
        1 => "new",
        2 => "old",
        _ => "?",
    }
}

fn stamp_text(sec: i64, nsec: i64) -> String {
    if (0..1_000_000_000).contains(&nsec) {
        format!("{sec}.{nsec:09}")
    } else {
        format!("{sec}.<{nsec}>")
    }
}

fn record_json(r: &Record<'_>) -> Value {
    json!({
        "offset": r.offset,
        "seq": r.header.seq_nr,
        "stamp": stamp_text(r.header.stamp_sec, r.header.stamp_nsec),
        "pos": r.header.pos,
        "len": r.payload.len(),
        "stored_len": r.stored_len,
        "total_len": r.total_len,
        "code": code_name(r.header.code),
        "checksum": r.checksum.name(),
        "compression": r.compression.map(|c| c.name()),
        "warning": r.warning.map(|w| w.name()),
    })
}

/// One sentence saying what is wrong.
fn describe(kind: &ScanErrorKind) -> String {
    match *kind {
        ScanErrorKind::NeedMore { needed } => format!("need {needed} bytes"),
        ScanErrorKind::Truncated { needed, available } => {
            format!("file ends inside a record: {available} of {needed} bytes present")
        }
        ScanErrorKind::Hole { len } => format!("{len} bytes of garbage before the first record"),
        ScanErrorKind::BadMagic { found } => format!("no start magic (found {found:#018x})"),
        ScanErrorKind::Zeroed => "zero bytes where a magic belongs".into(),
        ScanErrorKind::Repeated { byte } => {
            format!("repeated byte {byte:#04x} where a magic belongs")
        }
        ScanErrorKind::BadVersion { found } => format!("unknown format version {found}"),
        ScanErrorKind::Invalid => "valid flag not set (unfinished write)".into(),
        ScanErrorKind::BadLength { field, value } => {
            let what = match field {
                LengthField::TotalZero
                | LengthField::TotalNegative
                | LengthField::TotalTooSmall => "total_len",
                LengthField::PayloadLen => "l_len",
                LengthField::DecompressLen => "l_decompress_len",
            };
            format!("implausible {what} {value} ({})", field.name())
        }
        ScanErrorKind::BadEndMagic { found } => format!("no end magic (found {found:#018x})"),
        ScanErrorKind::Incomplete { valid_copy } => {
            format!("trailer valid copy is {valid_copy}, not 1")
        }
        ScanErrorKind::SeqGap { expected, found } => {
            format!("sequence number {found}, expected {expected}")
        }
        ScanErrorKind::BadCrcFlags { flags } => {
            format!("no usable checksum (crc flags {flags:#06x})")
        }
        ScanErrorKind::Decompress { flags } => {
            format!("payload does not decompress (crc flags {flags:#06x})")
        }
        ScanErrorKind::Checksum { algo } => format!("{} checksum mismatch", algo.name()),
    }
}

fn defect_json(e: &ScanError, skipped: Option<u64>) -> Value {
    json!({
        "offset": e.offset,
        "at": e.at,
        "class": e.kind.name(),
        "errno": e.kind.mars_errno(),
        "detail": describe(&e.kind),
        "seq": e.seq_nr,
        "resume": skipped,
    })
}

/// Runs the dump; writes to stdout.
pub(crate) fn run(args: &LogDumpArgs) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match dump(args, &mut out).and_then(|defects| out.flush().map(|()| defects)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            let _ = out.flush();
            eprintln!("marsadm log-dump: {}: {e}", args.file.display());
            ExitCode::from(2)
        }
    }
}

/// Dumps the file; returns the number of defects.
fn dump(args: &LogDumpArgs, out: &mut impl Write) -> io::Result<u64> {
    let file = File::open(&args.file)?;
    let mut rd = Reader {
        file,
        buf: Vec::new(),
        start: 0,
        base: 0,
        eof: false,
    };
    rd.seek(0)?;
    let ctx = ScanContext {
        digester: &HostDigester,
        compressor: Some(&HostCompressor),
    };
    let mut scratch = vec![0u8; mars_core::compress::MAX_DECOMPRESS_LEN];
    let mut state = ScanState::at(0);
    let mut defects: Vec<Value> = Vec::new();
    let mut defect_count = 0u64;
    let mut records = 0u64;
    let mut warnings = 0u64;
    let mut zero_tail_len = 0u64;

    let file_name = args.file.display().to_string();
    if args.json {
        write!(out, "{{\"file\":{},\"records\":[", json!(file_name))?;
    } else {
        writeln!(out, "# {file_name}")?;
        writeln!(
            out,
            "{:>12} {:>10} {:>20} {:>14} {:>6} {:>7} {:<7} checksum",
            "offset", "seq", "stamp", "position", "len", "code", "compr"
        )?;
    }

    loop {
        rd.seek(state.file_pos)?;
        let at_eof = rd.eof;
        let result = scan_record(rd.window(), at_eof, &mut state, &ctx, &mut scratch);
        let err = match result {
            Ok(None) => break,
            Ok(Some(r)) => {
                if args.json {
                    if records > 0 {
                        out.write_all(b",")?;
                    }
                    write!(out, "\n{}", record_json(&r))?;
                } else {
                    writeln!(
                        out,
                        "{:>12} {:>10} {:>20} {:>14} {:>6} {:>7} {:<7} {}{}",
                        r.offset,
                        r.header.seq_nr,
                        stamp_text(r.header.stamp_sec, r.header.stamp_nsec),
                        r.header.pos,
                        r.payload.len(),
                        code_name(r.header.code),
                        r.compression.map_or("-", |c| c.name()),
                        r.checksum.name(),
                        r.warning
                            .map_or(String::new(), |w| format!("  WARNING {}", w.name())),
                    )?;
                }
                records += 1;
                warnings += u64::from(r.warning.is_some());
                continue;
            }
            Err(e) => e,
        };
        // Zeros from here to EOF: what a running logger writes ahead of its records (or the
        // unwritten tail of a crash), no defect; recovery reads it the same way. A first
        // defect followed by zeros up to EOF within MAX_TORN_WRITE is the torn last write of
        // a crash (recovery's `judge_tail`): one defect of class "torn-tail", nothing after.
        if defect_count == 0 {
            let data_end = data_end(&args.file, err.offset)?;
            if data_end == err.offset && matches!(err.kind, ScanErrorKind::Zeroed) {
                zero_tail_len = rd_len(&args.file)?.saturating_sub(err.offset);
                if !args.json {
                    writeln!(out, "{:>12} zero tail of {zero_tail_len} bytes up to EOF (written ahead, not yet used)", err.offset)?;
                }
                break;
            }
            let eof = rd_len(&args.file)?;
            if data_end <= err.offset.saturating_add(MAX_TORN_WRITE)
                && eof.saturating_sub(data_end) >= MIN_ZERO_TAIL
            {
                defect_count += 1;
                let detail = format!("{}; then {} bytes up to {data_end}, zeros up to EOF: the interrupted last write", describe(&err.kind), data_end - err.offset);
                if !args.json {
                    writeln!(out, "{:>12} DEFECT torn-tail: {detail}", err.offset)?;
                }
                defects.push(json!({
                    "offset": err.offset,
                    "at": err.at,
                    "class": "torn-tail",
                    "errno": err.kind.mars_errno(),
                    "detail": detail,
                    "seq": err.seq_nr,
                    "resume": null,
                }));
                break;
            }
        }
        // NeedMore cannot happen: the window always reaches EOF or holds a whole record.
        defect_count += 1;
        // Where to go on: past an intact record, past a hole, or at the next start magic.
        let resume = match (err.record_len, err.kind) {
            (Some(len), _) => Some(err.offset + len as u64),
            (None, ScanErrorKind::Hole { len }) => Some(err.offset + len as u64),
            (None, _) => resync(&mut rd, err.offset)?,
        };
        if !args.json {
            writeln!(
                out,
                "{:>12} DEFECT {}: {}{}",
                err.offset,
                err.kind.name(),
                describe(&err.kind),
                match resume {
                    Some(p) => format!("; resuming at {p}"),
                    None => "; nothing readable follows".into(),
                }
            )?;
        }
        if defects.len() < MAX_DEFECTS {
            defects.push(defect_json(&err, resume));
        }
        match resume {
            Some(p) => {
                let skip = usize::try_from(p - err.offset).unwrap_or(usize::MAX);
                state.skip(&err, skip);
            }
            None => break,
        }
    }

    let end = rd.pos().max(state.file_pos);
    let first = defects.first().cloned().unwrap_or(Value::Null);
    if args.json {
        let summary = json!({
            "records": records,
            "warnings": warnings,
            "defects": defect_count,
            "clean": defect_count == 0,
            "end_offset": end,
            "zero_tail": zero_tail_len,
            "first_defect": first,
        });
        writeln!(
            out,
            "\n],\"defects\":{},\"summary\":{}}}",
            Value::Array(defects),
            summary
        )?;
    } else {
        write!(
            out,
            "{records} records, {warnings} warnings, {defect_count} defects"
        )?;
        if let Some(d) = defects.first() {
            write!(
                out,
                "; first defect at offset {}: {}",
                d["offset"],
                d["class"].as_str().unwrap_or_default()
            )?;
        }
        writeln!(out)?;
    }
    Ok(defect_count)
}

/// The end of the data in `path` from `from` on: the offset after its last non-zero byte
/// (`from` when everything from there to EOF is zero).
fn data_end(path: &std::path::Path, from: u64) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; READ_SIZE];
    let (mut pos, mut end) = (from, from);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(end),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(i) = buf
            .get(..n)
            .unwrap_or_default()
            .iter()
            .rposition(|&b| b != 0)
        {
            end = pos + i as u64 + 1;
        }
        pos += n as u64;
    }
}

/// The size of `path`.
fn rd_len(path: &std::path::Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

/// Finds the next start magic after `from`, reading on as needed; `None` if there is none.
fn resync(rd: &mut Reader, from: u64) -> io::Result<Option<u64>> {
    let mut search_from = from + 1;
    loop {
        rd.seek(search_from)?;
        let window = rd.window();
        if let Some(hit) = find_start_magic(window, 0) {
            return Ok(Some(rd.pos() + hit as u64));
        }
        if rd.eof {
            return Ok(None);
        }
        // Keep the last 7 bytes: a magic may straddle the window end.
        search_from = rd.pos() + window.len().saturating_sub(7) as u64;
    }
}
