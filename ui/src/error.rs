//! The error type of chart rendering.

/// Why an image could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded font could not be registered with the text renderer.
    #[error("font unavailable: {0}")]
    Font(String),
    /// The drawing backend refused an operation (e.g. an element it cannot draw).
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The pixels could not be encoded as PNG.
    #[error("png encoding failed: {0}")]
    Encode(String),
    /// The requested image is empty or too large to allocate.
    #[error("invalid image size {width}x{height}: each side must be 1..={max}")]
    Size {
        /// Width asked for, pixels.
        width: u32,
        /// Height asked for, pixels.
        height: u32,
        /// Largest side allowed.
        max: u32,
    },
}

/// Result of rendering.
pub type Result<T> = std::result::Result<T, Error>;

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for Error
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        Error::Draw(e.to_string())
    }
}
