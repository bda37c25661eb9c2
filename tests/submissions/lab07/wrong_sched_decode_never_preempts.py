# expect-fail: scheduler_rules_on_random_workloads, scheduler_uses_what_is_free, scheduler_preempts_the_newest
"""A decode whose next slot does not fit waits for a later step instead of preempting anyone
(only prompt chunks preempt): requests can wait on each other forever."""
_Reference = Scheduler


class Scheduler(_Reference):
    def step(self):
        """Schedule one step within the budgets, take it as executed, and return its Plan."""
        plan, budget, reqs = Plan(), self.max_num_batched_tokens, self.requests
        slots = {rid: reqs[rid]["done"] for rid in self.running}  # slots each running request holds
        work = {}  # rid -> tokens this step
        blocks = lambda n: -(-n // self.block_size)  # noqa: E731

        def decoding(rid):
            return reqs[rid]["done"] >= reqs[rid]["target"]

        def fits(rid, n):
            held = sum(blocks(s) for s in slots.values())
            return held - blocks(slots[rid]) + blocks(slots[rid] + n) <= self.num_blocks

        def preempt(rid):  # recomputation: every block back, outputs kept, back to the queue at its place
            self.running.remove(rid)
            slots.pop(rid)
            work.pop(rid, None)
            reqs[rid]["target"], reqs[rid]["done"] = reqs[rid]["prompt"] + reqs[rid]["outputs"], 0
            self.waiting.insert(0, rid)  # it is older than every waiting request
            plan.preempted.append(rid)

        def take(rid, n):  # run n tokens of rid, preempting the newest running requests until they fit
            while not fits(rid, n):
                victim = self.running[-1]
                preempt(victim)
                if victim == rid:
                    return False
            slots[rid] += n
            work[rid] = n
            return True

        # 1. decodes, oldest first (stall-free: before any prompt chunk)
        for rid in [r for r in self.running if decoding(r)]:
            if budget == 0 or rid not in self.running:
                continue
            if fits(rid, 1):  # no preemption for decodes: wait until blocks are free
                slots[rid] += 1
                work[rid] = 1
                budget -= 1
        # 2. prompt chunks of running requests, oldest first
        for rid in [r for r in self.running if not decoding(r)]:
            if budget == 0 or rid not in self.running:
                continue
            n = min(reqs[rid]["target"] - reqs[rid]["done"], budget)
            if take(rid, n):
                budget -= n
        # 3. admission, first come first served, only in a step without preemption
        while not plan.preempted and self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            rid = self.waiting[0]
            n = min(reqs[rid]["target"], budget)
            if sum(blocks(s) for s in slots.values()) + blocks(n) > self.num_blocks:
                break
            self.waiting.pop(0)
            self.running.append(rid)
            slots[rid] = n
            work[rid] = n
            budget -= n
        # the step runs: prompt tokens advance, outputs are produced, finished requests give back blocks
        for rid in list(self.running):
            if rid not in work:
                continue
            r = reqs[rid]
            if r["done"] < r["target"]:
                plan.prefill[rid] = work[rid]
                r["done"] += work[rid]
                if r["done"] == r["target"]:
                    r["outputs"] += 1
            else:
                plan.decode.append(rid)
                r["done"] += 1
                r["outputs"] += 1
            if r["outputs"] == r["max_new"]:
                self.running.remove(rid)
                self._finished.append(rid)
        return plan
