use thiserror::Error;

#[derive(Debug, Error)]
pub enum MessageError {
    #[error("empty message")]
    Empty,
    #[error("blob {0} is missing")]
    MissingBlob(String),
    #[error("stored layout is inconsistent: {0}")]
    Corrupt(String),
}
