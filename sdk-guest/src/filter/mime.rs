//! MIME types guessed from file extensions.

/// The MIME type commonly used for `key`'s extension (the part after the last `.` of
/// its last segment, compared case-insensitively), or `None` when it is not known.
///
/// ```
/// use tributary_sdk::filter::mime_from_extension;
/// assert_eq!(mime_from_extension("photos/Cat.JPG"), Some("image/jpeg"));
/// assert_eq!(mime_from_extension("notes/README"), None);
/// ```
pub fn mime_from_extension(key: &str) -> Option<&'static str> {
    let extension = extension_of(key)?;
    let lower;
    let extension = if extension.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = extension.to_ascii_lowercase();
        lower.as_str()
    } else {
        extension
    };
    let mime = match extension {
        // Images
        "jpg" | "jpeg" | "jpe" | "jfif" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" | "svgz" => "image/svg+xml",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/vnd.microsoft.icon",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "avif" => "image/avif",
        // Video
        "mp4" | "m4v" => "video/mp4",
        "mov" | "qt" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "mpeg" | "mpg" => "video/mpeg",
        "wmv" => "video/x-ms-wmv",
        "flv" => "video/x-flv",
        "3gp" => "video/3gpp",
        "ts" => "video/mp2t",
        // Audio
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/opus",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "aif" | "aiff" => "audio/aiff",
        "mid" | "midi" => "audio/midi",
        "weba" => "audio/webm",
        // Text and data
        "txt" | "text" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "xml" => "application/xml",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "yaml" | "yml" => "application/yaml",
        "toml" => "application/toml",
        "rtf" => "application/rtf",
        "ics" => "text/calendar",
        "vtt" => "text/vtt",
        "srt" => "application/x-subrip",
        // Documents
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "odp" => "application/vnd.oasis.opendocument.presentation",
        "epub" => "application/epub+zip",
        // Archives and binary data
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "bz2" => "application/x-bzip2",
        "xz" => "application/x-xz",
        "zst" => "application/zstd",
        "7z" => "application/x-7z-compressed",
        "rar" => "application/vnd.rar",
        "parquet" => "application/vnd.apache.parquet",
        "avro" => "application/avro",
        "arrow" | "feather" => "application/vnd.apache.arrow.file",
        "wasm" => "application/wasm",
        "bin" | "dat" => "application/octet-stream",
        _ => return None,
    };
    Some(mime)
}

/// The part of `key` after the last `.` of its last segment, if there is one.
pub(crate) fn extension_of(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.rsplit_once('.').map(|(_, extension)| extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_types() {
        for (key, mime) in [
            ("a.jpg", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.png", "image/png"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.svg", "image/svg+xml"),
            ("a.mp4", "video/mp4"),
            ("a.mov", "video/quicktime"),
            ("a.webm", "video/webm"),
            ("a.mkv", "video/x-matroska"),
            ("a.mp3", "audio/mpeg"),
            ("a.wav", "audio/wav"),
            ("a.flac", "audio/flac"),
            ("a.ogg", "audio/ogg"),
            ("a.txt", "text/plain"),
            ("a.md", "text/markdown"),
            ("a.csv", "text/csv"),
            ("a.json", "application/json"),
            ("a.html", "text/html"),
            ("a.xml", "application/xml"),
            ("a.pdf", "application/pdf"),
            ("a.zip", "application/zip"),
            ("a.gz", "application/gzip"),
            ("a.tar", "application/x-tar"),
            ("a.parquet", "application/vnd.apache.parquet"),
            ("a.bin", "application/octet-stream"),
        ] {
            assert_eq!(mime_from_extension(key), Some(mime), "{key}");
        }
    }

    #[test]
    fn only_the_last_segment_and_last_dot_count() {
        assert_eq!(mime_from_extension("dir.jpg/file"), None);
        assert_eq!(
            mime_from_extension("archive.tar.gz"),
            Some("application/gzip")
        );
        assert_eq!(
            mime_from_extension("photos/2024/CAT.PnG"),
            Some("image/png")
        );
        assert_eq!(mime_from_extension("noextension"), None);
        assert_eq!(mime_from_extension("trailing."), None);
        assert_eq!(mime_from_extension("a.unknownext"), None);
    }

    #[test]
    fn extension_of_takes_the_last_segment() {
        assert_eq!(extension_of("a/b.c/d.TXT"), Some("TXT"));
        assert_eq!(extension_of("a/b.c/d"), None);
        assert_eq!(extension_of(".bashrc"), Some("bashrc"));
        assert_eq!(extension_of("x."), Some(""));
    }
}
