# expect-fail: append_gather_and_slot_mapping, bad_input_raises_and_changes_nothing, out_of_blocks_append_is_all_or_nothing, fork_shares_blocks_without_copying, fork_then_append_copies_the_shared_block, free_sequence_keeps_shared_blocks_for_the_others, random_operations_match_a_model
"""Slot mapping looks up the previous logical block (table[p // bs - 1]); append and gather agree with it, the kernel would not."""


class PagedKVCache(PagedKVCache):  # noqa: F821 - the reference's class
    def _slots(self, table, start, stop):
        pos = torch.arange(start, stop, dtype=torch.long)  # noqa: F821
        if len(pos) == 0:
            return pos
        blocks = torch.tensor(table, dtype=torch.long)  # noqa: F821
        return blocks[pos // self.block_size - 1] * self.block_size + pos % self.block_size
