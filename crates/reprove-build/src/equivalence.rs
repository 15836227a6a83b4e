//! Whether two artifacts that differ bit for bit are the same build after named normalizations
//! (OSS Rebuild's "stabilizers"): gzip compared by what it decompresses to; tar members paired by
//! path with times, owners, directory modes and order set aside; zip entries paired by name with
//! times, order and compression set aside; `ar` members, in order, with their header fields set
//! aside. The answer names exactly the normalizations that were needed. Anything else that
//! differs, or that reprove cannot read, leaves the artifacts different, with the reason.
//!
//! Both files are untrusted: contents are streamed and compared by sha256, never held; at most
//! 4 GiB are read (after decompression) and a million members listed from each; malformed input
//! is a difference, never a panic. Only failing to read a file is an error.
//!
//! Not compared, because nothing a normalization sets aside can hide there: the headers of pax
//! extension and GNU long-name blocks themselves (what they say is compared), zero padding after
//! a tar's end; gaps between zip entries, data descriptors and "version needed" fields (sizes
//! and CRCs follow from the content and compressed bytes, which are compared). A difference only
//! there makes no normalization needed, and so is reported as not covered.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use reprove_build_types::Normalization;
use reprove_digest::{Digest, Sha256Hasher};

/// The most bytes read from one archive, after decompression.
const MAX_BYTES: u64 = 4 << 30;
/// The most members listed from one archive.
const MAX_ENTRIES: usize = 1_000_000;

/// The result of comparing two artifacts that differ bit for bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Equivalence {
    /// Equal after these normalizations (never empty).
    Equivalent(BTreeSet<Normalization>),
    /// Still different; says why, lowercase, for a report (e.g. "tar member `a/b` differs in content").
    Different(String),
}

/// Compares `published` with `rebuilt`, two files that differ bit for bit, after the
/// normalizations their format allows. An error means a file could not be read; anything wrong
/// with what is in it is [`Equivalence::Different`].
pub fn compare(published: &Path, rebuilt: &Path) -> io::Result<Equivalence> {
    compare_expecting(published, None, rebuilt)
}

/// [`compare`], holding the published file to a digest on record first (`sha256`, hex): the
/// bytes compared are read through the same open file that was hashed, so a file swapped at
/// its path after it was checked is not what gets compared.
pub fn compare_expecting(
    published: &Path,
    sha256: Option<&str>,
    rebuilt: &Path,
) -> io::Result<Equivalence> {
    let a = Side::open("published", published)?;
    if let Some(want) = sha256 {
        let mut file = &a.file;
        file.rewind()?;
        let (got, _) = hash(&mut file, u64::MAX)?;
        if got.hex() != want {
            return Ok(Equivalence::Different(format!(
                "`{}` is no longer the published file sha256:{want}",
                published.display()
            )));
        }
    }
    let b = Side::open("rebuilt", rebuilt)?;
    let (format_a, format_b) = (a.format()?, b.format()?);
    if format_a != format_b {
        return Ok(Equivalence::Different(format!(
            "the published file is {} and the rebuilt one {}",
            format_a.noun(),
            format_b.noun()
        )));
    }
    let mut found = BTreeSet::new();
    let outcome = match format_a {
        Format::Gzip => compare_gzip(&a, &b, &mut found),
        Format::Tar => compare_tar(&a, &b, Layer::Plain, &mut found),
        Format::Zip => compare_zip(&a, &b, &mut found),
        Format::Ar => compare_ar(&a, &b, &mut found),
        Format::Other => {
            differ("the files differ and reprove knows no normalization for this format")
        }
    };
    match outcome {
        // The bytes differ only where no normalization looks (see the module docs).
        Ok(()) if found.is_empty() => Ok(Equivalence::Different(
            "the files differ in bytes the normalizations do not cover".into(),
        )),
        Ok(()) => Ok(Equivalence::Equivalent(found)),
        Err(Stop::Different(why)) => Ok(Equivalence::Different(why)),
        Err(Stop::Io(e)) => Err(e),
    }
}

/// Why a comparison stopped before its end.
enum Stop {
    /// The artifacts are different, for this reason.
    Different(String),
    /// A file could not be read.
    Io(io::Error),
}

type Step<T> = Result<T, Stop>;

fn differ<T>(why: impl Into<String>) -> Step<T> {
    Err(Stop::Different(why.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Gzip,
    Zip,
    Ar,
    Tar,
    Other,
}

impl Format {
    /// By magic bytes at the start of `head` (at least 263 bytes of it when there are).
    fn of(head: &[u8]) -> Format {
        if head.starts_with(&[0x1f, 0x8b]) {
            Format::Gzip
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Format::Zip
        } else if head.starts_with(b"!<arch>\n") {
            Format::Ar
        } else if head.get(257..262) == Some(b"ustar".as_slice()) {
            Format::Tar
        } else {
            Format::Other
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Format::Gzip => "a gzip stream",
            Format::Zip => "a zip archive",
            Format::Ar => "an ar archive",
            Format::Tar => "a tar archive",
            Format::Other => "something else",
        }
    }
}

/// What an archive is read through.
#[derive(Debug, Clone, Copy)]
enum Layer {
    Plain,
    Gzip,
}

/// One of the two files.
struct Side {
    /// `published` or `rebuilt`, for reasons.
    name: &'static str,
    path: PathBuf,
    file: File,
}

impl Side {
    fn open(name: &'static str, path: &Path) -> io::Result<Side> {
        let (file, _) = reprove_digest::open_regular(path).map_err(|e| {
            let kind = if e.is_not_found() {
                io::ErrorKind::NotFound
            } else {
                io::ErrorKind::Other
            };
            io::Error::new(kind, e)
        })?;
        Ok(Side {
            name,
            path: path.to_owned(),
            file,
        })
    }

    fn io_error(&self, kind: io::ErrorKind, detail: impl fmt::Display) -> io::Error {
        io::Error::new(
            kind,
            format!("failed to read `{}`: {detail}", self.path.display()),
        )
    }

    fn format(&self) -> io::Result<Format> {
        let mut file = &self.file;
        let mut head = [0u8; 512];
        file.rewind().map_err(|e| self.io_error(e.kind(), e))?;
        let n = read_up_to(&mut file, &mut head).map_err(|e| self.io_error(e.kind(), e))?;
        Ok(Format::of(head.get(..n).unwrap_or_default()))
    }

    /// A reader from the start of the file that fails past `cap` bytes.
    fn start(&self, cap: u64) -> Step<Watch<BufReader<&File>>> {
        let mut file = &self.file;
        file.rewind()
            .map_err(|e| Stop::Io(self.io_error(e.kind(), e)))?;
        Ok(Watch::new(BufReader::new(file), cap))
    }

    /// Runs `parse` over the file, gunzipped first for [`Layer::Gzip`]; `what` is what it
    /// reads, for the reason when it fails (e.g. "a well-formed tar archive").
    fn read<T>(
        &self,
        layer: Layer,
        what: &str,
        parse: impl FnOnce(&mut dyn Read) -> io::Result<T>,
    ) -> Step<T> {
        match layer {
            Layer::Plain => {
                let mut file = self.start(MAX_BYTES)?;
                let result = parse(&mut file);
                self.settle(result, file.failure, None, what)
            }
            Layer::Gzip => {
                let mut file = self.start(u64::MAX)?;
                let (result, gzip) = {
                    let mut gz = Watch::new(MultiGzDecoder::new(&mut file), MAX_BYTES);
                    let result = parse(&mut gz);
                    (result, gz.failure)
                };
                self.settle(result, file.failure, gzip, what)
            }
        }
    }

    fn read_zip(&self) -> Step<ZipListing> {
        let mut file = self.start(u64::MAX)?;
        let result = zip_listing(&mut file);
        self.settle(result, file.failure, None, "a zip archive reprove can read")
    }

    /// Blames a failure on the right layer: the file (an I/O error), then a cap or the gzip
    /// stream, and only then the format `parse` read.
    fn settle<T>(
        &self,
        result: io::Result<T>,
        file: Option<Failure>,
        gzip: Option<Failure>,
        what: &str,
    ) -> Step<T> {
        if let Some(Failure::Error(kind, detail)) = &file {
            return Err(Stop::Io(self.io_error(*kind, detail)));
        }
        if matches!(file, Some(Failure::TooLarge))
            || matches!(gzip, Some(Failure::TooLarge))
            || result.as_ref().is_err_and(is_too_large)
        {
            return differ(format!(
                "the {} file is too large to compare after normalization",
                self.name
            ));
        }
        if let Some(Failure::Error(_, detail)) = &gzip {
            return differ(format!(
                "the {} file is not a well-formed gzip stream ({detail})",
                self.name
            ));
        }
        result.map_err(|e| Stop::Different(format!("the {} file is not {what} ({e})", self.name)))
    }
}

/// How a layer of reading failed.
enum Failure {
    Error(io::ErrorKind, String),
    TooLarge,
}

/// A reader that remembers how it failed. A parser above it turns any failure into an
/// `io::Error` of its own; this record tells an unreadable file (an error) from malformed or
/// oversized content (a difference).
struct Watch<R> {
    inner: R,
    /// Bytes still allowed.
    left: u64,
    failure: Option<Failure>,
}

impl<R> Watch<R> {
    fn new(inner: R, cap: u64) -> Self {
        Watch {
            inner,
            left: cap,
            failure: None,
        }
    }

    fn fail(&mut self, failure: Failure) {
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
    }
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => match self.left.checked_sub(n as u64) {
                Some(left) => {
                    self.left = left;
                    Ok(n)
                }
                None => {
                    self.fail(Failure::TooLarge);
                    Err(too_large())
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.fail(Failure::Error(e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

// Seeking a regular file fails only for a position before its start, which a malformed zip can
// ask for: the data's fault, so it is not recorded as the file's.
impl<R: Seek> Seek for Watch<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// The error a cap raises, told apart from others by its type.
#[derive(Debug)]
struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too large to compare after normalization")
    }
}

impl std::error::Error for TooLarge {}

fn too_large() -> io::Error {
    io::Error::other(TooLarge)
}

fn is_too_large(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<TooLarge>())
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Fills `buf`: false at a clean end of input, an error when it ends part way.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<bool> {
    match read_up_to(r, buf)? {
        0 => Ok(false),
        n if n < buf.len() => Err(io::ErrorKind::UnexpectedEof.into()),
        _ => Ok(true),
    }
}

/// The sha256 and length of everything `r` yields, failing past `cap` bytes.
fn hash(r: &mut dyn Read, cap: u64) -> io::Result<(Digest, u64)> {
    let mut hasher = Sha256Hasher::new();
    io::copy(&mut r.take(cap.saturating_add(1)), &mut hasher)?;
    if hasher.len() > cap {
        return Err(too_large());
    }
    let len = hasher.len();
    Ok((hasher.finish(), len))
}

/// A member name for a report: lossy UTF-8, control characters escaped.
fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).escape_debug().to_string()
}

/// A member of an archive, known by its name.
trait Named {
    fn name(&self) -> &[u8];
}

/// Pairs the members of two archives by name. A name twice in one archive, or in only one of
/// them, is a difference; the same names in another order needs `order`.
fn pair_up<'m, M: Named>(
    member: &str,
    a: &'m [M],
    b: &'m [M],
    order: Normalization,
    found: &mut BTreeSet<Normalization>,
) -> Step<Vec<(&'m M, &'m M)>> {
    let by_name_a = by_name("published", member, a)?;
    let by_name_b = by_name("rebuilt", member, b)?;
    if let Some(m) = a.iter().find(|m| !by_name_b.contains_key(m.name())) {
        return differ(format!(
            "{member} `{}` is only in the published archive",
            show(m.name())
        ));
    }
    if let Some(m) = b.iter().find(|m| !by_name_a.contains_key(m.name())) {
        return differ(format!(
            "{member} `{}` is only in the rebuilt archive",
            show(m.name())
        ));
    }
    if !a.iter().map(Named::name).eq(b.iter().map(Named::name)) {
        found.insert(order);
    }
    Ok(a.iter()
        .filter_map(|m| Some((m, *by_name_b.get(m.name())?)))
        .collect())
}

fn by_name<'m, M: Named>(
    side: &str,
    member: &str,
    members: &'m [M],
) -> Step<BTreeMap<&'m [u8], &'m M>> {
    let mut map = BTreeMap::new();
    for m in members {
        if map.insert(m.name(), m).is_some() {
            return differ(format!(
                "the {side} archive holds {member} `{}` twice",
                show(m.name())
            ));
        }
    }
    Ok(map)
}

// ---- gzip ----

fn compare_gzip(a: &Side, b: &Side, found: &mut BTreeSet<Normalization>) -> Step<()> {
    const WHAT: &str = "a well-formed gzip stream";
    let tar_a = a.read(Layer::Gzip, WHAT, starts_as_tar)?;
    let tar_b = b.read(Layer::Gzip, WHAT, starts_as_tar)?;
    let payload_a = a.read(Layer::Gzip, WHAT, |r| hash(r, MAX_BYTES))?;
    let payload_b = b.read(Layer::Gzip, WHAT, |r| hash(r, MAX_BYTES))?;
    // The same payload: only the gzip layer differs.
    if payload_a == payload_b {
        found.insert(Normalization::Gzip);
        return Ok(());
    }
    match (tar_a, tar_b) {
        (true, true) => {
            // Different payloads are equivalent only through a normalization of the tar inside;
            // a tar that differs in bytes none of them covers is not hidden by the gzip one.
            let mut inner = BTreeSet::new();
            compare_tar(a, b, Layer::Gzip, &mut inner)?;
            if inner.is_empty() {
                return differ(
                    "the gzip streams hold tar archives that differ in bytes the normalizations do not cover",
                );
            }
            found.extend(inner);
            found.insert(Normalization::Gzip);
            Ok(())
        }
        (false, false) => differ("the gzip streams decompress to different contents"),
        _ => differ("only one of the gzip streams holds a tar archive"),
    }
}

fn starts_as_tar(r: &mut dyn Read) -> io::Result<bool> {
    let mut head = [0u8; 512];
    let n = read_up_to(r, &mut head)?;
    Ok(Format::of(head.get(..n).unwrap_or_default()) == Format::Tar)
}

// ---- tar ----

type Fields = BTreeMap<Vec<u8>, Vec<u8>>;

/// What is compared of one tar member; its content by digest.
struct TarMember {
    path: Vec<u8>,
    kind: u8,
    content: (Digest, u64),
    link: Option<Vec<u8>>,
    mode: u32,
    device: Option<(Option<u32>, Option<u32>)>,
    /// The header's magic and version: ustar, GNU or old.
    format: Vec<u8>,
    /// Modification, access and change times, from the header and pax records.
    times: Fields,
    /// Owner and group, by id and by name, from the header and pax records.
    owner: Fields,
    /// Every other pax record.
    pax: Fields,
}

impl Named for TarMember {
    fn name(&self) -> &[u8] {
        &self.path
    }
}

struct TarListing {
    members: Vec<TarMember>,
    /// What follows the end-of-archive block, unless only zeros (padding to a record size).
    trailer: Option<Digest>,
}

fn compare_tar(a: &Side, b: &Side, layer: Layer, found: &mut BTreeSet<Normalization>) -> Step<()> {
    const WHAT: &str = "a well-formed tar archive";
    for side in [a, b] {
        if !side.read(layer, WHAT, extensions_bounded)? {
            return differ(format!(
                "an extension header of the {} archive is larger than {MAX_EXTENSION} bytes",
                side.name
            ));
        }
    }
    let listing_a = a.read(layer, WHAT, tar_listing)?;
    let listing_b = b.read(layer, WHAT, tar_listing)?;
    let pairs = pair_up(
        "tar member",
        &listing_a.members,
        &listing_b.members,
        Normalization::TarOrder,
        found,
    )?;
    for (x, y) in pairs {
        tar_member_differences(x, y, found)?;
    }
    if listing_a.trailer != listing_b.trailer {
        return differ("the tar archives differ after their end-of-archive block");
    }
    Ok(())
}

/// The most bytes of one extension header (pax, GNU long name) read: the tar crate keeps them
/// in memory, and a gzip bomb could make one gigabytes.
const MAX_EXTENSION: u64 = 1 << 20;

/// Whether every extension header (pax `x`/`g`, GNU `L`/`K`) is small enough to read: a first
/// pass that reads headers only.
fn extensions_bounded(r: &mut dyn Read) -> io::Result<bool> {
    let mut archive = tar::Archive::new(r);
    let mut entries = archive.entries()?.raw(true);
    let mut n = 0usize;
    for entry in &mut entries {
        let entry = entry?;
        n += 1;
        if n > MAX_ENTRIES {
            return Err(too_large());
        }
        let kind = entry.header().entry_type();
        let extension = kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink();
        if extension && entry.size() > MAX_EXTENSION {
            return Ok(false);
        }
    }
    Ok(true)
}

fn tar_listing(r: &mut dyn Read) -> io::Result<TarListing> {
    let mut archive = tar::Archive::new(r);
    let mut members = Vec::new();
    for entry in archive.entries()? {
        if members.len() >= MAX_ENTRIES {
            return Err(too_large());
        }
        members.push(tar_member(&mut entry?)?);
    }
    // The tar crate stops at the first zero block: hash the rest, so that data hidden after the
    // end still counts (and a gzip stream around it is read, and checked, to its end).
    let rest = archive.into_inner();
    let mut hasher = Sha256Hasher::new();
    let mut zeros = true;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = read_up_to(rest, &mut chunk)?;
        let data = chunk.get(..n).unwrap_or_default();
        zeros &= data.iter().all(|&b| b == 0);
        hasher.update(data);
        if n < chunk.len() {
            break;
        }
    }
    Ok(TarListing {
        members,
        trailer: (!zeros).then(|| hasher.finish()),
    })
}

fn tar_member<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<TarMember> {
    let header = entry.header();
    let kind = header.entry_type();
    let device = if kind.is_character_special() || kind.is_block_special() {
        Some((header.device_major()?, header.device_minor()?))
    } else {
        None
    };
    let mut times = Fields::from([(
        b"header mtime".to_vec(),
        header.mtime()?.to_string().into_bytes(),
    )]);
    if let Some(gnu) = header.as_gnu() {
        // set by GNU tar for incremental dumps and --atime-preserve
        times.insert(b"header atime".to_vec(), gnu.atime.to_vec());
        times.insert(b"header ctime".to_vec(), gnu.ctime.to_vec());
    }
    let mut owner = Fields::from([
        (
            b"header uid".to_vec(),
            header.uid()?.to_string().into_bytes(),
        ),
        (
            b"header gid".to_vec(),
            header.gid()?.to_string().into_bytes(),
        ),
        (
            b"header uname".to_vec(),
            header.username_bytes().unwrap_or_default().to_vec(),
        ),
        (
            b"header gname".to_vec(),
            header.groupname_bytes().unwrap_or_default().to_vec(),
        ),
    ]);
    let mode = header.mode()?;
    let format = header.as_bytes().get(257..265).unwrap_or_default().to_vec();
    let path = entry.path_bytes().into_owned();
    let link = entry.link_name_bytes().map(Cow::into_owned);
    let size = entry.size();
    let mut pax = Fields::new();
    // A global header's records are its content, compared as such: reading them as extensions
    // would consume it.
    if !kind.is_pax_global_extensions()
        && let Some(records) = entry.pax_extensions()?
    {
        let mut seen = BTreeSet::new();
        for record in records {
            let record = record?;
            // Readers disagree on a key given twice (the tar crate takes the first, GNU tar,
            // bsdtar and Python the last): such an archive extracts differently by tool.
            if !seen.insert(record.key_bytes().to_vec()) {
                return Err(invalid(format!(
                    "member `{}` has the pax record `{}` twice",
                    show(&path),
                    show(record.key_bytes())
                )));
            }
            // A GNU long name beside a pax path: the tar crate takes the long name, GNU tar
            // and Python the pax record. Only an archive where they agree is read.
            let conflict = match record.key_bytes() {
                b"path" => record.value_bytes() != path.as_slice(),
                b"linkpath" => Some(record.value_bytes()) != link.as_deref(),
                _ => false,
            };
            if conflict {
                return Err(invalid(format!(
                    "member `{}` is named differently by its pax record and its header",
                    show(&path)
                )));
            }
            let fields = match record.key_bytes() {
                b"mtime" | b"atime" | b"ctime" => &mut times,
                b"uid" | b"gid" | b"uname" | b"gname" => &mut owner,
                // the path, link target and size too: one side with a record and the other
                // without is a difference in how the member is written
                _ => &mut pax,
            };
            fields.insert(record.key_bytes().to_vec(), record.value_bytes().to_vec());
        }
    }
    let content = hash(entry, MAX_BYTES)?;
    // A short member is a cut-off archive (a sparse member's size is what is stored, not its length).
    if content.1 != size && !kind.is_gnu_sparse() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("member `{}` is cut short", show(&path)),
        ));
    }
    Ok(TarMember {
        path,
        kind: kind.as_byte(),
        content,
        link,
        mode,
        device,
        format,
        times,
        owner,
        pax,
    })
}

fn tar_member_differences(
    a: &TarMember,
    b: &TarMember,
    found: &mut BTreeSet<Normalization>,
) -> Step<()> {
    let differs = |what: &str| -> Step<()> {
        differ(format!("tar member `{}` differs in {what}", show(&a.path)))
    };
    if a.kind != b.kind {
        return differs("type");
    }
    if a.content != b.content {
        return differs("content");
    }
    if a.link != b.link {
        return differs("link target");
    }
    if a.device != b.device {
        return differs("device numbers");
    }
    if a.format != b.format {
        return differs("header format");
    }
    if a.pax != b.pax {
        return differs("pax records");
    }
    if a.mode != b.mode {
        // Only a directory's ordinary permission bits: one writable by anyone, or with
        // set-id or sticky bits, matters when the archive is extracted as root.
        let risky = |m: u32| m & 0o7002 != 0;
        if a.kind != tar::EntryType::Directory.as_byte() || risky(a.mode) || risky(b.mode) {
            return differs("mode");
        }
        found.insert(Normalization::TarDirMode);
    }
    if a.times != b.times {
        found.insert(Normalization::TarMtime);
    }
    if a.owner != b.owner {
        found.insert(Normalization::TarOwner);
    }
    Ok(())
}

// ---- zip ----

/// Extra-field records, by header id (`None` for trailing bytes that are no record).
type Records = Vec<(Option<u16>, Vec<u8>)>;

/// A zip extra field, split into records.
#[derive(Default, PartialEq, Eq)]
struct Extras {
    /// Extended timestamp (0x5455) and NTFS times (0x000a).
    times: Records,
    other: Records,
}

impl Extras {
    /// Zip64 records (0x0001) are dropped: they hold sizes and offsets, which follow from the
    /// content and the compression.
    fn parse(mut raw: &[u8]) -> Extras {
        let mut extras = Extras::default();
        while !raw.is_empty() {
            let Some((&[i0, i1, l0, l1], rest)) = raw.split_first_chunk::<4>() else {
                extras.other.push((None, raw.to_vec()));
                break;
            };
            let len = usize::from(u16::from_le_bytes([l0, l1]));
            let Some((data, rest)) = rest.split_at_checked(len) else {
                extras.other.push((None, raw.to_vec()));
                break;
            };
            match u16::from_le_bytes([i0, i1]) {
                0x0001 => {}
                id @ (0x5455 | 0x000a) => extras.times.push((Some(id), data.to_vec())),
                id => extras.other.push((Some(id), data.to_vec())),
            }
            raw = rest;
        }
        extras
    }
}

/// What is compared of one zip entry; its content and compressed bytes by digest.
struct ZipEntry {
    name: Vec<u8>,
    is_dir: bool,
    mode: Option<u32>,
    made_by: (u8, u8),
    comment: String,
    content: (Digest, u64),
    method: zip::CompressionMethod,
    compressed: (Digest, u64),
    modified: Option<zip::DateTime>,
    central: Extras,
    header_start: u64,
    /// The central directory's CRC-32, held against the local header's.
    crc32: u32,
    /// The compression method's code, as the central directory records it.
    method_code: u16,
    /// Where the entry's compressed data ends (its local header's offset, length and data).
    data_end: u64,
    // From the local header, which the zip crate does not expose.
    local_name: Vec<u8>,
    flags: u16,
    local_time: [u8; 4],
    local: Extras,
}

impl Named for ZipEntry {
    fn name(&self) -> &[u8] {
        &self.name
    }
}

struct ZipListing {
    entries: Vec<ZipEntry>,
    comment: Vec<u8>,
}

fn compare_zip(a: &Side, b: &Side, found: &mut BTreeSet<Normalization>) -> Step<()> {
    let (listing_a, listing_b) = (a.read_zip()?, b.read_zip()?);
    if listing_a.comment != listing_b.comment {
        return differ("the zip archives' comments differ");
    }
    let pairs = pair_up(
        "zip entry",
        &listing_a.entries,
        &listing_b.entries,
        Normalization::ZipOrder,
        found,
    )?;
    for (x, y) in pairs {
        zip_entry_differences(x, y, found)?;
    }
    Ok(())
}

/// The method code of a compression method (APPNOTE 4.4.5).
fn central_method_code(m: zip::CompressionMethod) -> u16 {
    #[allow(deprecated)]
    match m {
        zip::CompressionMethod::Stored => 0,
        zip::CompressionMethod::Deflated => 8,
        // Every other method is compared as a code the local header cannot equal.
        _ => u16::MAX,
    }
}

fn zip_listing<R: Read + Seek>(reader: R) -> io::Result<ZipListing> {
    let mut archive = zip::ZipArchive::new(reader)?;
    if archive.len() > MAX_ENTRIES {
        return Err(too_large());
    }
    // A prefix (a self-extractor's stub, say) is bytes no normalization explains.
    if archive.offset() != 0 {
        return Err(invalid("it has data before its first entry"));
    }
    let comment = archive.comment().to_vec();
    let directory = archive.central_directory_start();
    // Compressed and decompressed bytes both count: entries may overlap, so the file's size
    // bounds neither.
    let mut budget = MAX_BYTES;
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let compressed = hash(&mut archive.by_index_raw(i)?, budget)?;
        budget = budget.saturating_sub(compressed.1);
        let mut file = archive.by_index(i)?;
        let content = hash(&mut file, budget)?;
        budget = budget.saturating_sub(content.1);
        entries.push(ZipEntry {
            name: file.name_raw().to_vec(),
            is_dir: file.is_dir(),
            mode: file.unix_mode(),
            made_by: file.version_made_by(),
            comment: file.comment().to_owned(),
            content,
            method: file.compression(),
            compressed,
            modified: file.last_modified(),
            central: Extras::parse(file.extra_data().unwrap_or_default()),
            header_start: file.header_start(),
            crc32: file.crc32(),
            method_code: central_method_code(file.compression()),
            data_end: 0,
            local_name: Vec::new(),
            flags: 0,
            local_time: [0; 4],
            local: Extras::default(),
        });
    }
    let mut reader = archive.into_inner();

    // The zip crate keeps one entry per name: count the central directory's records to catch a
    // name listed twice.
    let mut at = directory;
    let mut listed = 0;
    while listed <= entries.len() {
        reader.seek(SeekFrom::Start(at))?;
        let mut record = [0u8; 46];
        if !fill(&mut reader, &mut record[..4])? || record[..4] != *b"PK\x01\x02" {
            break;
        }
        reader.read_exact(&mut record[4..])?;
        let field = |i: usize| u64::from(u16::from_le_bytes([record[i], record[i + 1]]));
        // name, extra field and comment lengths
        at = at.saturating_add(46 + field(28) + field(30) + field(32));
        listed += 1;
    }
    if listed != entries.len() {
        return Err(invalid("its central directory lists a name twice"));
    }
    // The central directory runs straight into the end record, which ends the file: no bytes
    // after it that a streaming reader or another tool could read. (Zip64 archives are not
    // compared.)
    reader.seek(SeekFrom::Start(at))?;
    let mut end = [0u8; 22];
    if !fill(&mut reader, &mut end)? || end[..4] != *b"PK\x05\x06" {
        return Err(invalid(
            "its central directory is not followed by its end record (zip64 archives are not compared)",
        ));
    }
    let comment_len = u64::from(u16::from_le_bytes([end[20], end[21]]));
    let file_len = reader.seek(SeekFrom::End(0))?;
    if at.saturating_add(22).saturating_add(comment_len) != file_len {
        return Err(invalid("it holds bytes after its end record"));
    }

    for entry in &mut entries {
        reader.seek(SeekFrom::Start(entry.header_start))?;
        let mut fixed = [0u8; 30];
        reader.read_exact(&mut fixed)?;
        if fixed[..4] != *b"PK\x03\x04" {
            return Err(invalid(format!(
                "the local header of `{}` is missing",
                show(&entry.name)
            )));
        }
        let len = |i: usize| usize::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]));
        let mut variable = vec![0u8; len(26) + len(28)];
        reader.read_exact(&mut variable)?;
        let (name, extra) = variable.split_at(len(26));
        // Not checked against the central name: the zip crate replaces that with an Info-ZIP
        // Unicode path (0x7075) when there is one.
        entry.local_name = name.to_vec();
        entry.flags = u16::from_le_bytes([fixed[6], fixed[7]]);
        entry.local_time = [fixed[10], fixed[11], fixed[12], fixed[13]];
        entry.local = Extras::parse(extra);
        // A streaming reader (Java's ZipInputStream, libarchive) goes by the local header: its
        // method, CRC and sizes must be the central directory's (zeros when the sizes follow
        // the data, flag bit 3).
        let word =
            |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let local_method = u16::from_le_bytes([fixed[8], fixed[9]]);
        let deferred = entry.flags & 0b1000 != 0;
        let agrees =
            |local: u32, central: u64| u64::from(local) == central || (deferred && local == 0);
        if local_method != entry.method_code
            || !agrees(word(14), u64::from(entry.crc32))
            || !agrees(word(18), entry.compressed.1)
            || !agrees(word(22), entry.content.1)
        {
            return Err(invalid(format!(
                "the local header of `{}` disagrees with its central directory record",
                show(&entry.name)
            )));
        }
        entry.data_end = entry
            .header_start
            .saturating_add(30)
            .saturating_add(variable.len() as u64)
            .saturating_add(entry.compressed.1);
    }
    // The entries tile the file up to the central directory: the first at 0, each next one
    // right after the one before (and its data descriptor, at most 24 bytes, when flag bit 3
    // is set). No gap can hide an entry only a streaming reader would extract.
    let mut tiles: Vec<(u64, u64, bool)> = entries
        .iter()
        .map(|e| (e.header_start, e.data_end, e.flags & 0b1000 != 0))
        .collect();
    tiles.sort_unstable();
    let mut next = 0u64;
    let mut slack = 0u64;
    for (start, data_end, deferred) in tiles.iter().copied().chain([(directory, directory, false)])
    {
        if start < next || start - next > slack {
            return Err(invalid(
                "its entries do not follow one another without gaps or overlaps",
            ));
        }
        next = data_end;
        slack = if deferred { 24 } else { 0 };
    }
    Ok(ZipListing { entries, comment })
}

fn zip_entry_differences(
    a: &ZipEntry,
    b: &ZipEntry,
    found: &mut BTreeSet<Normalization>,
) -> Step<()> {
    let differs = |what: &str| -> Step<()> {
        differ(format!("zip entry `{}` differs in {what}", show(&a.name)))
    };
    if a.is_dir != b.is_dir {
        return differs("type");
    }
    if a.content != b.content {
        return differs("content");
    }
    if a.mode != b.mode {
        return differs("mode");
    }
    if a.comment != b.comment {
        return differs("comment");
    }
    if a.local_name != b.local_name {
        return differs("the name in its local header");
    }
    if a.central.other != b.central.other || a.local.other != b.local.other {
        return differs("extra fields");
    }
    // Flag bits 1 and 2 (deflate level) and 3 (sizes after the data) follow from compression.
    if ((a.flags ^ b.flags) & !0b1110) != 0 {
        return differs("general-purpose flags");
    }
    // "Version made by" follows from the method too (zip writers mark the least version that
    // reads what they wrote).
    if a.method != b.method
        || a.compressed != b.compressed
        || a.flags != b.flags
        || a.made_by != b.made_by
    {
        found.insert(Normalization::ZipCompression);
    }
    if a.modified != b.modified
        || a.local_time != b.local_time
        || a.central.times != b.central.times
        || a.local.times != b.local.times
    {
        found.insert(Normalization::ZipTime);
    }
    Ok(())
}

// ---- ar ----

/// One `ar` member: its 60-byte header (name 16, mtime 12, uid 6, gid 6, mode 8, size 10,
/// "`\n") and its content.
struct ArMember {
    header: [u8; 60],
    content: (Digest, u64),
}

fn compare_ar(a: &Side, b: &Side, found: &mut BTreeSet<Normalization>) -> Step<()> {
    const WHAT: &str = "a well-formed ar archive";
    let members_a = a.read(Layer::Plain, WHAT, ar_listing)?;
    let members_b = b.read(Layer::Plain, WHAT, ar_listing)?;
    if members_a.len() != members_b.len() {
        return differ(format!(
            "the published ar archive has {} members and the rebuilt one {}",
            members_a.len(),
            members_b.len()
        ));
    }
    // In order: a linker searches members in archive order. Long names (GNU's `//` table, BSD's
    // `#1/` prefix) live in member contents, so comparing raw name fields and contents covers them.
    for (x, y) in members_a.iter().zip(&members_b) {
        let name = show(x.header[..16].trim_ascii_end());
        if x.header[..16] != y.header[..16] {
            return differ(format!(
                "ar member `{name}` is `{}` in the rebuilt archive",
                show(y.header[..16].trim_ascii_end())
            ));
        }
        if x.content != y.content || x.header[48..] != y.header[48..] {
            return differ(format!("ar member `{name}` differs in content"));
        }
        // mtime, uid, gid and mode
        if x.header[16..48] != y.header[16..48] {
            found.insert(Normalization::ArHeader);
        }
    }
    Ok(())
}

fn ar_listing(r: &mut dyn Read) -> io::Result<Vec<ArMember>> {
    let mut magic = [0u8; 8];
    if !fill(r, &mut magic)? || magic != *b"!<arch>\n" {
        return Err(invalid("no ar magic"));
    }
    let mut members = Vec::new();
    loop {
        let mut header = [0u8; 60];
        if !fill(r, &mut header)? {
            break;
        }
        if header[58..] != *b"`\n" {
            return Err(invalid("a member header is cut or corrupt"));
        }
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim_end_matches(' ').parse::<u64>().ok())
            .ok_or_else(|| invalid("a member size is not a number"))?;
        let content = hash(&mut (&mut *r).take(size), size)?;
        if content.1 != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a member is cut short",
            ));
        }
        // Data is padded to an even offset; a missing pad at the very end is tolerated.
        if size % 2 == 1 {
            fill(r, &mut [0u8; 1])?;
        }
        if members.len() >= MAX_ENTRIES {
            return Err(too_large());
        }
        members.push(ArMember { header, content });
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn check(published: &[u8], rebuilt: &[u8]) -> Equivalence {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("published"), dir.path().join("rebuilt"));
        std::fs::write(&a, published).unwrap();
        std::fs::write(&b, rebuilt).unwrap();
        compare(&a, &b).unwrap()
    }

    fn equivalent(normalizations: &[Normalization]) -> Equivalence {
        Equivalence::Equivalent(normalizations.iter().copied().collect())
    }

    #[track_caller]
    fn assert_different(result: &Equivalence, needle: &str) {
        assert!(
            matches!(result, Equivalence::Different(why) if why.contains(needle)),
            "expected a difference naming {needle:?}, got {result:?}"
        );
    }

    const MEMBERS: [&str; 3] = ["app/", "app/a", "app/b"];

    /// A tar of the directory `app/` and the files `app/a` and `app/b` (or `paths`), in that
    /// order; `tweak` edits each member's header and content before it is written.
    fn tar_of(paths: &[&str], tweak: impl Fn(&str, &mut tar::Header, &mut Vec<u8>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for &path in paths {
            let dir = path.ends_with('/');
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(if dir {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            header.set_mode(if dir { 0o755 } else { 0o644 });
            header.set_mtime(1_600_000_000);
            header.set_uid(0);
            header.set_gid(0);
            let mut data = if dir { Vec::new() } else { b"content".to_vec() };
            tweak(path, &mut header, &mut data);
            header.set_size(data.len() as u64);
            builder
                .append_data(&mut header, path, data.as_slice())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn plain_tar() -> Vec<u8> {
        tar_of(&MEMBERS, |_, _, _| {})
    }

    /// A tar of `app/a` preceded by a pax header with `records`.
    fn pax_tar(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(7);
        builder
            .append_data(&mut header, "app/a", b"content".as_slice())
            .unwrap();
        builder.into_inner().unwrap()
    }

    fn gz(data: &[u8], mtime: u32) -> Vec<u8> {
        let mut encoder = flate2::GzBuilder::new()
            .mtime(mtime)
            .write(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod, year: u16) -> Vec<u8> {
        let time = zip::DateTime::from_date_and_time(year, 1, 1, 0, 0, 0).unwrap();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(time);
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    const AB: [(&str, &[u8]); 2] = [
        ("a.txt", b"hello hello hello hello"),
        ("b.txt", b"world world world world"),
    ];

    fn ar_of(members: &[(&str, &str, &[u8])]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, mtime, data) in members {
            let header = format!(
                "{name:<16}{mtime:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                644,
                data.len()
            );
            assert_eq!(header.len(), 60);
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn tar_mtime_only() {
        let rebuilt = tar_of(&MEMBERS, |_, h, _| h.set_mtime(1_700_000_000));
        assert_eq!(
            check(&plain_tar(), &rebuilt),
            equivalent(&[Normalization::TarMtime])
        );
    }

    #[test]
    fn tar_order_only() {
        let rebuilt = tar_of(&["app/", "app/b", "app/a"], |_, _, _| {});
        assert_eq!(
            check(&plain_tar(), &rebuilt),
            equivalent(&[Normalization::TarOrder])
        );
    }

    #[test]
    fn tar_owner_only() {
        let rebuilt = tar_of(&MEMBERS, |_, h, _| {
            h.set_uid(1000);
            h.set_username("builder").unwrap();
        });
        assert_eq!(
            check(&plain_tar(), &rebuilt),
            equivalent(&[Normalization::TarOwner])
        );
    }

    #[test]
    fn tar_directory_mode_only() {
        let rebuilt = tar_of(&MEMBERS, |p, h, _| {
            if p == "app/" {
                h.set_mode(0o700);
            }
        });
        assert_eq!(
            check(&plain_tar(), &rebuilt),
            equivalent(&[Normalization::TarDirMode])
        );
    }

    #[test]
    fn tar_several_at_once() {
        let rebuilt = tar_of(&["app/", "app/b", "app/a"], |_, h, _| {
            h.set_mtime(1);
            h.set_gid(7);
        });
        assert_eq!(
            check(&plain_tar(), &rebuilt),
            equivalent(&[
                Normalization::TarOrder,
                Normalization::TarMtime,
                Normalization::TarOwner
            ])
        );
    }

    #[test]
    fn tar_file_mode_is_a_difference() {
        let rebuilt = tar_of(&MEMBERS, |p, h, _| {
            if p == "app/a" {
                h.set_mode(0o755);
            }
        });
        assert_different(
            &check(&plain_tar(), &rebuilt),
            "tar member `app/a` differs in mode",
        );
    }

    #[test]
    fn tar_content_is_a_difference() {
        let rebuilt = tar_of(&MEMBERS, |p, h, d| {
            h.set_mtime(0);
            if p == "app/b" {
                *d = b"changed".to_vec();
            }
        });
        assert_different(
            &check(&plain_tar(), &rebuilt),
            "tar member `app/b` differs in content",
        );
    }

    #[test]
    fn tar_membership_is_a_difference() {
        let extra = tar_of(&["app/", "app/a", "app/b", "app/c"], |_, _, _| {});
        assert_different(
            &check(&plain_tar(), &extra),
            "tar member `app/c` is only in the rebuilt archive",
        );
        let missing = tar_of(&["app/", "app/a"], |_, _, _| {});
        assert_different(
            &check(&plain_tar(), &missing),
            "tar member `app/b` is only in the published archive",
        );
        let twice = tar_of(&["app/", "app/a", "app/b", "app/a"], |_, _, _| {});
        assert_different(&check(&plain_tar(), &twice), "`app/a` twice");
    }

    #[test]
    fn tar_pax_records() {
        let mtime = |t: &'static [u8]| pax_tar(&[("mtime", t)]);
        assert_eq!(
            check(&mtime(b"1600000000.5"), &mtime(b"1700000000.25")),
            equivalent(&[Normalization::TarMtime])
        );
        let xattr = |v: &'static [u8]| pax_tar(&[("SCHILY.xattr.user.x", v)]);
        assert_different(&check(&xattr(b"1"), &xattr(b"2")), "differs in pax records");
    }

    #[test]
    fn tar_padding_alone_is_not_covered() {
        let mut padded = plain_tar();
        padded.extend_from_slice(&[0; 1024]);
        assert_eq!(
            check(&plain_tar(), &padded),
            Equivalence::Different(
                "the files differ in bytes the normalizations do not cover".into()
            )
        );
        let mut trailing = plain_tar();
        trailing.extend_from_slice(b"hidden");
        assert_different(
            &check(&plain_tar(), &trailing),
            "after their end-of-archive block",
        );
    }

    #[test]
    fn gzip_header_only() {
        assert_eq!(
            check(&gz(&plain_tar(), 0), &gz(&plain_tar(), 42)),
            equivalent(&[Normalization::Gzip])
        );
        assert_eq!(
            check(&gz(b"payload", 0), &gz(b"payload", 42)),
            equivalent(&[Normalization::Gzip])
        );
        assert_different(
            &check(&gz(b"payload", 0), &gz(b"other", 0)),
            "decompress to different contents",
        );
    }

    #[test]
    fn tar_gz_with_tar_differences() {
        let rebuilt = tar_of(&MEMBERS, |_, h, _| h.set_mtime(1_700_000_000));
        assert_eq!(
            check(&gz(&plain_tar(), 0), &gz(&rebuilt, 0)),
            equivalent(&[Normalization::Gzip, Normalization::TarMtime])
        );
        let changed = tar_of(&MEMBERS, |p, _, d| {
            if p == "app/a" {
                d.push(b'!');
            }
        });
        assert_different(
            &check(&gz(&plain_tar(), 0), &gz(&changed, 0)),
            "tar member `app/a` differs in content",
        );
    }

    #[test]
    fn zip_times_only() {
        let deflated = zip::CompressionMethod::Deflated;
        assert_eq!(
            check(&zip_of(&AB, deflated, 2020), &zip_of(&AB, deflated, 2024)),
            equivalent(&[Normalization::ZipTime])
        );
    }

    #[test]
    fn zip_order_only() {
        let deflated = zip::CompressionMethod::Deflated;
        let reversed = [AB[1], AB[0]];
        assert_eq!(
            check(
                &zip_of(&AB, deflated, 2020),
                &zip_of(&reversed, deflated, 2020)
            ),
            equivalent(&[Normalization::ZipOrder])
        );
    }

    #[test]
    fn zip_compression_only() {
        assert_eq!(
            check(
                &zip_of(&AB, zip::CompressionMethod::Stored, 2020),
                &zip_of(&AB, zip::CompressionMethod::Deflated, 2020)
            ),
            equivalent(&[Normalization::ZipCompression])
        );
    }

    #[test]
    fn zip_content_is_a_difference() {
        let deflated = zip::CompressionMethod::Deflated;
        let changed = [AB[0], ("b.txt", b"changed".as_slice())];
        assert_different(
            &check(
                &zip_of(&AB, deflated, 2020),
                &zip_of(&changed, deflated, 2024),
            ),
            "zip entry `b.txt` differs in content",
        );
        let extra = [AB[0], AB[1], ("c.txt", b"more".as_slice())];
        assert_different(
            &check(
                &zip_of(&AB, deflated, 2020),
                &zip_of(&extra, deflated, 2020),
            ),
            "zip entry `c.txt` is only in the rebuilt archive",
        );
    }

    #[test]
    fn ar_header_only() {
        let published = ar_of(&[("a.o/", "0", b"abc"), ("b.o/", "0", b"defg")]);
        let rebuilt = ar_of(&[("a.o/", "1700000000", b"abc"), ("b.o/", "0", b"defg")]);
        assert_eq!(
            check(&published, &rebuilt),
            equivalent(&[Normalization::ArHeader])
        );
    }

    #[test]
    fn ar_content_and_order_are_differences() {
        let published = ar_of(&[("a.o/", "0", b"abc"), ("b.o/", "0", b"defg")]);
        let changed = ar_of(&[("a.o/", "0", b"abd"), ("b.o/", "0", b"defg")]);
        assert_different(
            &check(&published, &changed),
            "ar member `a.o/` differs in content",
        );
        let reordered = ar_of(&[("b.o/", "0", b"defg"), ("a.o/", "0", b"abc")]);
        assert_different(
            &check(&published, &reordered),
            "ar member `a.o/` is `b.o/` in the rebuilt archive",
        );
        let fewer = ar_of(&[("a.o/", "0", b"abc")]);
        assert_different(
            &check(&published, &fewer),
            "2 members and the rebuilt one 1",
        );
    }

    #[test]
    fn malformed_inputs_are_differences_not_panics() {
        let tarball = plain_tar();
        let tgz = gz(&tarball, 0);
        let zipped = zip_of(&AB, zip::CompressionMethod::Deflated, 2020);
        let archive = ar_of(&[("a.o/", "0", b"abc"), ("b.o/", "0", b"defg")]);
        let cut = |d: &[u8], n: usize| d[..d.len() - n].to_vec();
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (tarball.clone(), tarball[..700].to_vec()),
            (tgz.clone(), cut(&tgz, tgz.len() / 2)),
            (zipped.clone(), cut(&zipped, 10)),
            (archive.clone(), cut(&archive, 2)),
            (archive.clone(), cut(&archive, 70)),
            (
                b"\x1f\x8bgarbage".to_vec(),
                b"\x1f\x8bother garbage".to_vec(),
            ),
            (b"PK\x03\x04garbage".to_vec(), b"PK\x03\x04other".to_vec()),
            (b"PK\x05\x06".to_vec(), b"PK\x05\x06\0".to_vec()),
            (b"!<arch>\ngarbage".to_vec(), b"!<arch>\nother".to_vec()),
            (
                b"!<arch>\n".to_vec(),
                [b"!<arch>\n".as_slice(), &[b' '; 58], b"`\n"].concat(),
            ),
        ];
        for (published, rebuilt) in cases {
            let result = check(&published, &rebuilt);
            assert!(
                matches!(result, Equivalence::Different(_)),
                "{published:?} against {rebuilt:?}: {result:?}"
            );
        }
        assert_different(
            &check(&tarball, &tarball[..700]),
            "not a well-formed tar archive",
        );
        assert_different(
            &check(&tgz, &cut(&tgz, 20)),
            "not a well-formed gzip stream",
        );
        assert_different(
            &check(&archive, &cut(&archive, 2)),
            "not a well-formed ar archive",
        );
    }

    #[test]
    fn formats() {
        let zipped = zip_of(&AB, zip::CompressionMethod::Deflated, 2020);
        assert_eq!(
            check(&plain_tar(), &zipped),
            Equivalence::Different(
                "the published file is a tar archive and the rebuilt one a zip archive".into()
            )
        );
        assert_eq!(
            check(b"hello", b"world"),
            Equivalence::Different(
                "the files differ and reprove knows no normalization for this format".into()
            )
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("present");
        std::fs::write(&present, plain_tar()).unwrap();
        let error = compare(&present, &dir.path().join("absent")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    // ---- Regressions (attack review of issue 13) ----

    /// A pax `size` given twice: the tar crate reads the first, GNU tar the last — the
    /// difference could hide a payload in the padding.
    #[test]
    fn a_pax_record_given_twice_is_refused() {
        let twice = pax_tar(&[("size", b"7"), ("size", b"400"), ("mtime", b"5")]);
        let once = pax_tar(&[("size", b"7"), ("mtime", b"6")]);
        assert_different(&check(&twice, &once), "twice");
        assert_different(&check(&gz(&twice, 1), &gz(&once, 2)), "twice");
    }

    /// A GNU long name beside a pax `path`: the tar crate takes the long name, GNU tar the
    /// pax record.
    #[test]
    fn a_long_name_that_disagrees_with_its_pax_path_is_refused() {
        let long = format!("app/{}", "x".repeat(150));
        let build = |pax_path: &str, mtime: u64| {
            let mut builder = tar::Builder::new(Vec::new());
            builder
                .append_pax_extensions([("path", pax_path.as_bytes())])
                .unwrap();
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(mtime);
            header.set_size(7);
            builder
                .append_data(&mut header, &long, b"content".as_slice())
                .unwrap();
            builder.into_inner().unwrap()
        };
        assert_different(
            &check(&build("app/evil", 1), &build(&long, 2)),
            "named differently",
        );
        // Agreeing names are read as one.
        assert_eq!(
            check(&build(&long, 1), &build(&long, 2)),
            equivalent(&[Normalization::TarMtime])
        );
    }

    /// Bytes of a tar header no normalization covers (its padding) make a different tar; the
    /// gzip normalization does not hide them.
    #[test]
    fn gzip_does_not_hide_tar_bytes_no_normalization_covers() {
        let plain = plain_tar();
        let mut marked = plain.clone();
        marked[505] = b'!';
        // The header checksum (bytes 148..156) over the block with the checksum as spaces.
        let mut block = [0u8; 512];
        block.copy_from_slice(&marked[..512]);
        block[148..156].copy_from_slice(b"        ");
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        marked[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert_eq!(
            check(&gz(&plain, 1), &gz(&marked, 1)),
            Equivalence::Different(
                "the gzip streams hold tar archives that differ in bytes the normalizations do not cover".into()
            )
        );
        // The gzip header alone is a gzip normalization.
        assert_eq!(
            check(&gz(&plain, 1), &gz(&plain, 2)),
            equivalent(&[Normalization::Gzip])
        );
    }

    #[test]
    fn a_world_writable_or_setid_directory_mode_is_a_difference() {
        let with = |mode: u32| {
            tar_of(&MEMBERS, move |p, h, _| {
                if p == "app/" {
                    h.set_mode(mode);
                }
            })
        };
        assert_eq!(
            check(&with(0o755), &with(0o700)),
            equivalent(&[Normalization::TarDirMode])
        );
        assert_different(&check(&with(0o755), &with(0o777)), "differs in mode");
        assert_different(&check(&with(0o755), &with(0o2755)), "differs in mode");
    }

    /// Bytes a streaming zip reader could read that the central directory does not show.
    #[test]
    fn zip_bytes_outside_the_directory_view_are_refused() {
        let a = zip_of(&[("a.txt", b"hello")], zip::CompressionMethod::Stored, 2000);
        let b = zip_of(&[("a.txt", b"hello")], zip::CompressionMethod::Stored, 2001);
        assert_eq!(check(&a, &b), equivalent(&[Normalization::ZipTime]));
        let mut trailing = a.clone();
        trailing.extend_from_slice(b"PK\x03\x04hidden");
        assert_different(&check(&trailing, &b), "after its end record");
        // The local header claims more data than the central directory.
        let mut longer = a.clone();
        let size = u32::from_le_bytes([a[18], a[19], a[20], a[21]]) + 40;
        longer[18..22].copy_from_slice(&size.to_le_bytes());
        assert_different(&check(&longer, &b), "disagrees with its central directory");
    }

    /// The published file is held to the digest on record through the handle it is compared
    /// through.
    #[test]
    fn a_published_file_that_is_not_the_recorded_one_is_not_compared() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("published"), dir.path().join("rebuilt"));
        std::fs::write(&a, gz(&plain_tar(), 1)).unwrap();
        std::fs::write(&b, gz(&plain_tar(), 2)).unwrap();
        let right = reprove_digest::sha256_file(&a).unwrap().0.hex();
        assert_eq!(
            compare_expecting(&a, Some(&right), &b).unwrap(),
            equivalent(&[Normalization::Gzip])
        );
        assert_different(
            &compare_expecting(&a, Some(&"0".repeat(64)), &b).unwrap(),
            "no longer the published file",
        );
    }
}
