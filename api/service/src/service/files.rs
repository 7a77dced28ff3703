//! Storage files (WildDuck's /users/{user}/storage): uploads kept for later
//! attachment, de-duplicated in the blob store and counted in the user's quota.

use bytes::Bytes;
use chrono::Utc;

use super::Service;
use crate::model::{Page, Paging};
use crate::{Error, ObjectId, Result, StoreError, StoredFile};

/// What uploading a file takes. Mirrors POST /users/{user}/storage.
#[derive(Debug, Clone, Default)]
pub struct NewFile {
    pub filename: Option<String>,
    /// None: detected from the filename's extension.
    pub content_type: Option<String>,
    pub cid: Option<String>,
    pub content: Bytes,
}

/// The content type a filename suggests (WildDuck detects it the same way);
/// application/octet-stream when the extension says nothing.
pub fn content_type_for(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "ics" => "text/calendar",
        "vcf" => "text/vcard",
        "xml" => "application/xml",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "eml" => "message/rfc822",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

impl Service {
    /// Store an uploaded file for the user; returns its record.
    pub async fn upload_file(&self, user: ObjectId, new: NewFile) -> Result<StoredFile> {
        if new.content.is_empty() {
            return Err(Error::InvalidField(
                "content",
                "\"content\" is not allowed to be empty".into(),
            ));
        }
        let owner = self.get_user(user).await?;
        let content_type = new
            .content_type
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| {
                content_type_for(new.filename.as_deref().unwrap_or_default()).to_string()
            });
        let file = StoredFile {
            id: ObjectId::new(),
            user,
            filename: new.filename.filter(|f| !f.is_empty()),
            content_type,
            cid: new.cid.filter(|c| !c.is_empty()),
            size: new.content.len() as u64,
            hash: eider_message::BlobHash::of(&new.content),
            created: Utc::now(),
        };
        match self
            .store()
            .store_file(&file, new.content, Some(self.quota_limit(&owner).await))
            .await
        {
            Ok(()) => Ok(file),
            Err(StoreError::NotFound) => Err(Error::UserNotFound),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_files(
        &self,
        user: ObjectId,
        query: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<StoredFile>> {
        self.get_user(user).await?;
        Ok(self.store().list_files(user, query, paging).await?)
    }

    /// A file's record and bytes.
    pub async fn get_file(&self, user: ObjectId, id: ObjectId) -> Result<(StoredFile, Bytes)> {
        let file = self
            .store()
            .get_file(user, id)
            .await?
            .ok_or(Error::FileNotFound)?;
        let data = self.store().read_blob(&file.hash, 0, file.size).await?;
        Ok((file, data))
    }

    pub async fn delete_file(&self, user: ObjectId, id: ObjectId) -> Result<()> {
        if self.store().delete_file(user, id).await? {
            Ok(())
        } else {
            Err(Error::FileNotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::content_type_for;

    #[test]
    fn content_type_follows_the_extension() {
        assert_eq!(content_type_for("Report.PDF"), "application/pdf");
        assert_eq!(content_type_for("a.tar.gz"), "application/gzip");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
        assert_eq!(content_type_for(""), "application/octet-stream");
    }
}
