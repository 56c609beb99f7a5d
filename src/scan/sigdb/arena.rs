//! Byte strings kept one after another in one buffer and indexed by
//! position: a database has hundreds of thousands of signature names and
//! anchors, and one allocation each would dominate loading and freeing it.

/// Byte strings; string `i` ends at `ends[i]`.
#[derive(Debug, Default)]
pub(super) struct Arena {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl Arena {
    /// Add a string; its index is the number added before it.
    pub fn push(&mut self, string: &[u8]) -> Result<u32, String> {
        let index = u32::try_from(self.ends.len()).map_err(|_| "too many strings")?;
        self.bytes.extend_from_slice(string);
        self.ends.push(u32::try_from(self.bytes.len()).map_err(|_| "strings too long")?);
        Ok(index)
    }

    pub fn get(&self, index: u32) -> Option<&[u8]> {
        let index = usize::try_from(index).ok()?;
        let start = match index.checked_sub(1) {
            Some(previous) => *self.ends.get(previous)?,
            None => 0,
        };
        self.bytes.get(start as usize..*self.ends.get(index)? as usize)
    }

    /// How many strings there are (indexes are `u32`, so they fit).
    pub fn len(&self) -> u32 {
        u32::try_from(self.ends.len()).unwrap_or(u32::MAX)
    }

    /// Add `other`'s strings after these, in order (all or none).
    pub fn append(&mut self, other: &Arena) -> Result<(), String> {
        let base = u32::try_from(self.bytes.len()).map_err(|_| "strings too long")?;
        u32::try_from(self.bytes.len().saturating_add(other.bytes.len())).map_err(|_| "strings too long")?;
        u32::try_from(self.ends.len().saturating_add(other.ends.len())).map_err(|_| "too many strings")?;
        self.bytes.extend_from_slice(&other.bytes);
        self.ends.extend(other.ends.iter().map(|&end| end.saturating_add(base)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_by_index_across_appends() {
        let mut arena = Arena::default();
        assert_eq!(arena.push(b"first"), Ok(0));
        assert_eq!(arena.push(b""), Ok(1));
        let mut more = Arena::default();
        assert_eq!(more.push(b"third"), Ok(0));
        arena.append(&more).expect("fits");
        assert_eq!(arena.len(), 3);
        let all: Vec<Option<&[u8]>> = (0..4).map(|i| arena.get(i)).collect();
        assert_eq!(all, [Some(&b"first"[..]), Some(b""), Some(b"third"), None]);
    }
}
