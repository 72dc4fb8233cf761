//! Walking every page of the key list.

use std::collections::{HashSet, VecDeque};

use futures_util::Stream;

use crate::{Client, Error, types};

struct Cursor {
    offset: u64,
    seen: HashSet<String>,
    ready: VecDeque<types::ApiKey>,
    done: bool,
}

impl Client {
    /// Every key of the organization, oldest first, fetched `page_size`
    /// (1 to 100) at a time.
    ///
    /// The stream stops after an empty page, a page shorter than the page
    /// size, or once it has passed the list's `total`. Each key is yielded
    /// once even if the list shifts between pages. A server that answers
    /// a page holding only keys already seen ends the stream with
    /// [`Error::InvalidResponse`] rather than looping.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt as _;
    ///
    /// # async fn run(client: alphamoon_client::Client) -> Result<(), alphamoon_client::Error> {
    /// let keys: Vec<_> = client.list_all_api_keys(100).try_collect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn list_all_api_keys(
        &self,
        page_size: u64,
    ) -> impl Stream<Item = Result<types::ApiKey, Error>> + Send + '_ {
        let start = Cursor {
            offset: 0,
            seen: HashSet::new(),
            ready: VecDeque::new(),
            done: false,
        };
        futures_util::stream::try_unfold(start, move |mut cursor| async move {
            loop {
                if let Some(key) = cursor.ready.pop_front() {
                    return Ok(Some((key, cursor)));
                }
                if cursor.done {
                    return Ok(None);
                }
                let page = self
                    .list_api_keys()
                    .offset(cursor.offset)
                    .limit(page_size)
                    .send()
                    .await?
                    .into_inner();
                let received = page.api_keys.len() as u64;
                // The server may apply a smaller limit than asked. A limit
                // of 0 makes this 0, so that no page counts as short: better
                // one request too many than a list cut off.
                let page_limit = page_size.min(page.pagination.limit);
                let offset = cursor.offset;
                cursor.offset += received;
                cursor.done = received == 0
                    || received < page_limit
                    || cursor.offset >= page.pagination.total;
                let before = cursor.ready.len();
                for key in page.api_keys {
                    if cursor.seen.insert(key.id.clone()) {
                        cursor.ready.push_back(key);
                    }
                }
                if received > 0 && cursor.ready.len() == before {
                    return Err(Error::InvalidResponse {
                        status: None,
                        reason: format!(
                            "the page at offset {offset} holds only keys already listed"
                        ),
                    });
                }
            }
        })
    }
}
