//! Properties of ids and percentile buckets over generated inputs.

use proptest::prelude::*;
use sextant_client::{bucket_index, is_valid_tag_char, sanitize, Id, BUCKET_COUNT, BUCKET_VALUES};

proptest! {
    #[test]
    fn sanitised_strings_are_valid_and_stable(s in "\\PC{0,40}") {
        let once = sanitize(&s).into_owned();
        prop_assert!(once.chars().all(is_valid_tag_char));
        prop_assert_eq!(sanitize(&once).into_owned(), once.clone());
        // One `_` per UTF-16 unit replaced, as Java does.
        prop_assert_eq!(once.len(), s.encode_utf16().count());
    }

    #[test]
    fn tag_order_does_not_matter(
        tags in proptest::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{0,4}", 0..8)
    ) {
        let fwd = Id::new("n").with_tags(tags.iter());
        let rev = Id::new("n").with_tags(tags.iter().rev());
        prop_assert_eq!(&fwd, &rev);
        let keys: Vec<&str> = fwd.tags().map(|(k, _)| k).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        prop_assert_eq!(keys, sorted);
    }

    #[test]
    fn every_value_is_at_most_its_bucket(v in any::<i64>()) {
        let i = bucket_index(v);
        prop_assert!(i < BUCKET_COUNT);
        prop_assert!(v <= BUCKET_VALUES[i]);
    }

    #[test]
    fn bucket_index_is_monotonic(a in 0i64..i64::MAX, b in 0i64..i64::MAX) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(bucket_index(lo) <= bucket_index(hi));
    }
}
