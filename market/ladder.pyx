# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""The matching core: price ladders per (slot, zone) and congestion-aware matching, in C++.

:class:`market.engine.Exchange` validates messages, keeps nonces and escrow, and writes the
journal; every match goes through one :class:`Ladder`. Everything here is integers: zones are
indices (the upstream zone is ``upstream``), orders are known by the caller's unique sequence
number (``seq``, also their time priority), prices are µ€/kWh, quantities Wh.

A book side is an ordered map price → FIFO of handles (bids keyed by −price, so the first
level is the best on both sides). Cancelled and filled orders stay in their FIFO with nothing
left until they reach its front (lazy deletion); their slot in the order table is then reused.

Matching (see the engine's docstring for the mechanism): an incoming order meets, again and
again, the best effective quote over all zones — a resting ask's price plus fee(i→j) for a
buy at zone j, a resting bid's price minus fee(i→j) for a sell at zone i — the earlier order
first at equal effective price and the supplier (upstream, infinite depth) behind everyone.
A resting order of the same owner met at the top of a zone is cancelled (self-trade
prevention). Each trade is cut to the capacity headroom left on the congestion points its flow
loads; headroom shrinks by the flow (per-mille coefficients, rounded up) as trades happen.
"""

cimport cython
from cython.operator cimport dereference as deref
from cython.operator cimport preincrement as inc
from libc.stdint cimport int64_t, uint64_t
from libcpp.algorithm cimport sort
from libcpp.deque cimport deque
from libcpp.map cimport map as cmap
from libcpp.pair cimport pair
from libcpp.unordered_map cimport unordered_map
from libcpp.vector cimport vector

cdef int64_t UNLIMITED = (<int64_t>1) << 62
cdef int64_t SUPPLIER_SEQ = (<int64_t>1) << 62
cdef int64_t EMPTY = -1
cdef int64_t TOMB = -2
cdef int BUY = 0
cdef int SELL = 1

cdef struct Ord:
    int64_t price
    int64_t remaining
    int64_t seq
    int64_t owner
    int side

ctypedef cmap[int64_t, deque[int]] Side
ctypedef pair[pair[int64_t, int64_t], pair[int64_t, int64_t]] Quote  # ((key, seq), (qty, pair))


@cython.final
cdef class SeqTable:
    """seq → handle, open addressing with linear probing (one cache line per lookup)."""

    cdef vector[int64_t] keys          # EMPTY, TOMB or a seq (≥ 0)
    cdef vector[int] vals
    cdef size_t mask, used, count
    cdef int shift

    def __cinit__(self):
        self._resize(1 << 10)

    cdef void _resize(self, size_t capacity) noexcept:
        cdef vector[int64_t] old_keys = self.keys
        cdef vector[int] old_vals = self.vals
        self.keys.assign(capacity, EMPTY)
        self.vals.assign(capacity, -1)
        self.mask = capacity - 1
        self.shift = 64
        while capacity > 1:
            capacity >>= 1
            self.shift -= 1
        self.used = 0
        self.count = 0
        for i in range(old_keys.size()):
            if old_keys[i] >= 0:
                self.put(old_keys[i], old_vals[i])

    cdef inline size_t _home(self, int64_t key) noexcept:
        return <size_t>((<uint64_t>key * <uint64_t>0x9E3779B97F4A7C15ULL) >> self.shift)

    cdef inline int64_t _find(self, int64_t key) noexcept:
        cdef size_t i = self._home(key)
        while self.keys[i] != EMPTY:
            if self.keys[i] == key:
                return <int64_t>i
            i = (i + 1) & self.mask
        return -1

    cdef inline int get(self, int64_t key) noexcept:
        cdef int64_t i = self._find(key)
        return -1 if i < 0 else self.vals[i]

    cdef void put(self, int64_t key, int val) noexcept:
        """Insert a key that is not in the table."""
        if 2 * (self.used + 1) > self.mask + 1:
            self._resize((self.mask + 1) * (2 if 4 * (self.count + 1) > self.mask + 1 else 1))
        cdef size_t i = self._home(key)
        while self.keys[i] >= 0:
            i = (i + 1) & self.mask
        if self.keys[i] == EMPTY:
            self.used += 1
        self.keys[i] = key
        self.vals[i] = val
        self.count += 1

    cdef inline int pop(self, int64_t key) noexcept:
        """Remove ``key``; its value, or −1 if absent."""
        cdef int64_t i = self._find(key)
        if i < 0:
            return -1
        self.keys[i] = TOMB
        self.count -= 1
        return self.vals[i]


@cython.final
cdef class Ladder:
    """Books, slot fees, supplier quotes and capacity headroom of one market, in integers.

    ``coef`` lists, for every ordered zone pair (i, j) and every constraint c (a congestion
    point in one direction), the per-mille load a trade i → j puts on c:
    ``coef[(i * n_zones + j) * n_constraints + c] ≥ 0``.
    """

    cdef int nz, upstream, nc
    cdef vector[int64_t] coef
    cdef vector[Ord] orders
    cdef vector[int] free_orders
    cdef vector[Side] sides            # book * 2 + order side (bids 0, asks 1)
    cdef vector[int] free_books
    cdef unordered_map[int64_t, int] slot_of   # slot → slot index
    cdef vector[int] slot_books        # sidx * nz + zone → book, −1 if none
    cdef SeqTable live                 # seq of a resting order → its handle
    cdef vector[int] free_slots
    cdef vector[int64_t] fees          # sidx * nz * nz + i * nz + j, µ€/kWh
    cdef vector[int64_t] quotes        # sidx * 2: supplier's ask (retail), bid (feed-in)
    cdef vector[int64_t] headroom      # sidx * nc + c, Wh; −1 = no capacity posted
    cdef vector[char] capped
    cdef public list fills
    cdef public list self_cancelled
    cdef public bint rested
    cdef public int64_t fill_count

    def __init__(self, int n_zones, int upstream, int n_constraints, coef):
        if len(coef) != n_zones * n_zones * n_constraints:
            raise ValueError("coef needs n_zones² × n_constraints entries")
        self.nz = n_zones
        self.upstream = upstream
        self.nc = n_constraints
        for k in coef:
            if k < 0:
                raise ValueError("coefficients are loads, ≥ 0")
            self.coef.push_back(k)
        self.fills = []
        self.self_cancelled = []
        self.rested = False
        self.live = SeqTable()

    # ---- slots: supplier quotes, fees, capacities ---------------------------------------------
    def open_slot(self, int64_t slot, int64_t retail, int64_t feed_in):
        """Make ``slot`` tradable with the supplier's quotes (µ€/kWh); idempotent."""
        cdef int s = self._slot(slot)
        if s < 0:
            if self.free_slots.empty():
                s = <int>self.capped.size()
                self.fees.resize(self.fees.size() + self.nz * self.nz)
                self.quotes.resize(self.quotes.size() + 2)
                self.headroom.resize(self.headroom.size() + self.nc)
                self.slot_books.resize(self.slot_books.size() + self.nz, -1)
                self.capped.push_back(0)
            else:
                s = self.free_slots.back()
                self.free_slots.pop_back()
            for k in range(self.nz * self.nz):
                self.fees[s * self.nz * self.nz + k] = 0
            for k in range(self.nc):
                self.headroom[s * self.nc + k] = -1
            self.capped[s] = 0
            self.slot_of[slot] = s
        self.quotes[2 * s] = retail
        self.quotes[2 * s + 1] = feed_in

    def set_fee(self, int64_t slot, int i, int j, int64_t fee):
        """Congestion fee (µ€/kWh) on energy traded from zone ``i`` to zone ``j`` in ``slot``."""
        cdef int s = self._open(slot)
        self.fees[s * self.nz * self.nz + i * self.nz + j] = fee

    def fee(self, int64_t slot, int i, int j):
        cdef int s = self._slot(slot)
        return 0 if s < 0 else self.fees[s * self.nz * self.nz + i * self.nz + j]

    def set_headroom(self, int64_t slot, int c, int64_t wh):
        """Capacity (Wh) left on constraint ``c`` in ``slot``; ``-1`` removes the cap."""
        cdef int s = self._open(slot)
        self.headroom[s * self.nc + c] = wh
        self.capped[s] = 0
        for k in range(self.nc):
            if self.headroom[s * self.nc + k] >= 0:
                self.capped[s] = 1

    def headroom_of(self, int64_t slot, int c):
        """Capacity (Wh) left on constraint ``c`` in ``slot``, or ``None`` if none was posted."""
        cdef int s = self._slot(slot)
        if s < 0 or self.headroom[s * self.nc + c] < 0:
            return None
        return self.headroom[s * self.nc + c]

    def drop_slot(self, int64_t slot):
        """Forget ``slot``: its books (whose orders the caller has cancelled) and its state."""
        cdef int s = self._slot(slot)
        cdef int b
        cdef deque[int]* q
        if s < 0:
            return
        for z in range(self.nz):
            b = self.slot_books[s * self.nz + z]
            if b < 0:
                continue
            self.slot_books[s * self.nz + z] = -1
            for side in range(2):
                lv = self.sides[2 * b + side].begin()
                while lv != self.sides[2 * b + side].end():
                    q = &deref(lv).second
                    for k in range(q.size()):
                        if self.orders[deref(q)[k]].remaining > 0:
                            self.live.pop(self.orders[deref(q)[k]].seq)
                        self.orders[deref(q)[k]].remaining = 0
                        self.free_orders.push_back(deref(q)[k])
                    inc(lv)
                self.sides[2 * b + side].clear()
            self.free_books.push_back(b)
        self.slot_of.erase(slot)
        self.free_slots.push_back(s)

    # ---- orders -------------------------------------------------------------------------------
    def place(self, int64_t owner, int side, int64_t slot, int zone, int64_t price,
              int64_t qty, int64_t seq, bint rest, /):
        """Match an incoming order; rest what is left if ``rest``. Returns the number of fills.

        Afterwards ``fills`` holds (resting seq or −1 for the supplier, zone, trade price, fee,
        Wh, Wh left to the resting order) per trade in order, ``self_cancelled`` the seqs of
        orders cancelled by self-trade prevention, and ``rested`` whether ``seq`` now rests.
        """
        cdef int s = self._open(slot)
        if self.fills:
            self.fills = []
        if self.self_cancelled:
            self.self_cancelled = []
        cdef int64_t left = self._match(owner, side, s, slot, zone, price, qty)
        self.rested = left > 0 and rest
        if self.rested:
            self.live.put(seq, self._rest(owner, side, s, zone, price, left, seq))
        return len(self.fills)

    def fillable(self, int64_t owner, int side, int64_t slot, int zone, int64_t price,
                 int64_t qty):
        """Wh of an incoming order that would fill now (for fill-or-kill); changes nothing."""
        cdef int s = self._open(slot)
        cdef vector[Quote] qs
        cdef vector[int64_t] room
        cdef int buying = side == BUY
        cdef int z, sz, bz, b, pidx
        cdef int64_t fee, eff, need, take, k
        cdef Side* book
        cdef deque[int]* q
        cdef Ord* o
        cdef Quote quote
        for z in range(self.nz):
            sz = z if buying else zone
            bz = zone if buying else z
            fee = self.fees[s * self.nz * self.nz + sz * self.nz + bz]
            b = self.slot_books[s * self.nz + z]
            if b >= 0:
                book = &self.sides[2 * b + (SELL if buying else BUY)]
                lv = book.begin()
                while lv != book.end():
                    eff = (deref(lv).first + fee) if buying else (-deref(lv).first - fee)
                    if (price < eff) if buying else (price > eff):
                        break
                    q = &deref(lv).second
                    for i in range(q.size()):
                        o = &self.orders[deref(q)[i]]
                        if o.remaining > 0 and o.owner != owner:
                            quote.first.first = eff if buying else -eff
                            quote.first.second = o.seq
                            quote.second.first = o.remaining
                            quote.second.second = sz * self.nz + bz
                            qs.push_back(quote)
                    inc(lv)
            if z == self.upstream:
                eff = (self.quotes[2 * s] + fee) if buying else (self.quotes[2 * s + 1] - fee)
                if (price >= eff) if buying else (price <= eff):
                    quote.first.first = eff if buying else -eff
                    quote.first.second = SUPPLIER_SEQ
                    quote.second.first = UNLIMITED
                    quote.second.second = sz * self.nz + bz
                    qs.push_back(quote)
        sort(qs.begin(), qs.end())
        for c in range(self.nc):
            room.push_back(self.headroom[s * self.nc + c])
        need = qty
        for i in range(qs.size()):
            if need <= 0:
                break
            take = min(need, qs[i].second.first)
            pidx = <int>qs[i].second.second
            if self.capped[s]:
                for c in range(self.nc):
                    k = self.coef[pidx * self.nc + c]
                    if k and room[c] >= 0:
                        take = min(take, room[c] * 1000 // k)
                for c in range(self.nc):
                    k = self.coef[pidx * self.nc + c]
                    if k and room[c] >= 0:
                        room[c] = max(room[c] - (take * k + 999) // 1000, 0)
            need -= take
        return qty - need

    def cancel(self, int64_t seq):
        """Withdraw resting order ``seq`` (it leaves its FIFO lazily); False if not resting."""
        cdef int h = self.live.pop(seq)
        if h < 0:
            return False
        self.orders[h].remaining = 0
        return True

    def reduce(self, int64_t seq, int64_t qty):
        """Set resting order ``seq``'s quantity (> 0) in place, keeping its time priority."""
        cdef int h = self.live.get(seq)
        if h < 0 or qty <= 0:
            return False
        self.orders[h].remaining = qty
        return True

    def remaining(self, int64_t seq):
        """Wh left to resting order ``seq`` (0 if it is not resting)."""
        cdef int h = self.live.get(seq)
        return 0 if h < 0 else self.orders[h].remaining

    def __len__(self):
        """Number of resting orders."""
        return self.live.count

    def resting(self, int64_t slot, int zone, int side):
        """Seqs of the live orders of ``side`` (0 bids, 1 asks) in (slot, zone), best first."""
        cdef int s = self._slot(slot)
        out = []
        if s < 0 or self.slot_books[s * self.nz + zone] < 0:
            return out
        cdef int b = self.slot_books[s * self.nz + zone]
        cdef deque[int]* q
        lv = self.sides[2 * b + side].begin()
        while lv != self.sides[2 * b + side].end():
            q = &deref(lv).second
            for i in range(q.size()):
                if self.orders[deref(q)[i]].remaining > 0:
                    out.append(self.orders[deref(q)[i]].seq)
            inc(lv)
        return out

    # ---- internals ----------------------------------------------------------------------------
    cdef inline int _slot(self, int64_t slot) noexcept:
        it = self.slot_of.find(slot)
        return -1 if it == self.slot_of.end() else deref(it).second

    cdef int _open(self, int64_t slot) except -1:
        cdef int s = self._slot(slot)
        if s < 0:
            raise KeyError(f"slot {slot} is not open")
        return s

    cdef int _rest(self, int64_t owner, int side, int s, int zone, int64_t price,
                   int64_t qty, int64_t seq) noexcept:
        cdef int h, b = self.slot_books[s * self.nz + zone]
        cdef Ord o
        if b < 0:
            if self.free_books.empty():
                b = <int>(self.sides.size() // 2)
                self.sides.resize(self.sides.size() + 2)
            else:
                b = self.free_books.back()
                self.free_books.pop_back()
            self.slot_books[s * self.nz + zone] = b
        o.price = price
        o.remaining = qty
        o.seq = seq
        o.owner = owner
        o.side = side
        if self.free_orders.empty():
            h = <int>self.orders.size()
            self.orders.push_back(o)
        else:
            h = self.free_orders.back()
            self.free_orders.pop_back()
            self.orders[h] = o
        self.sides[2 * b + side][-price if side == BUY else price].push_back(h)
        return h

    cdef int _top(self, int b, int side) noexcept:
        """Best live handle on ``side`` of book ``b`` (−1 if none); drops dead entries."""
        cdef Side* book = &self.sides[2 * b + side]
        cdef deque[int]* q
        cdef int h
        while not book.empty():
            lv = book.begin()
            q = &deref(lv).second
            while not q.empty():
                h = q.front()
                if self.orders[h].remaining > 0:
                    return h
                q.pop_front()
                self.free_orders.push_back(h)
            book.erase(lv)
        return -1

    cdef int64_t _capacity(self, int s, int sz, int bz) noexcept:
        if not self.capped[s]:
            return UNLIMITED
        cdef int64_t cap = UNLIMITED, k, room
        cdef int base = (sz * self.nz + bz) * self.nc
        for c in range(self.nc):
            k = self.coef[base + c]
            room = self.headroom[s * self.nc + c]
            if k and room >= 0:
                cap = min(cap, room * 1000 // k)
        return cap

    cdef void _use(self, int s, int sz, int bz, int64_t wh) noexcept:
        if not self.capped[s]:
            return
        cdef int64_t k, room
        cdef int base = (sz * self.nz + bz) * self.nc
        for c in range(self.nc):
            k = self.coef[base + c]
            room = self.headroom[s * self.nc + c]
            if k and room >= 0:
                self.headroom[s * self.nc + c] = max(room - (wh * k + 999) // 1000, 0)

    cdef int64_t _match(self, int64_t owner, int side, int s, int64_t slot, int zone,
                        int64_t price, int64_t qty) except -1:
        cdef int buying = side == BUY
        cdef int opposite = SELL if buying else BUY
        cdef int z, sz, bz, b, top, best_h = -1, best_z = 0
        cdef int64_t cap, fee, eff, key, best_key = 0, best_seq = 0, best_price = 0
        cdef int64_t best_fee = 0, best_cap = 0
        cdef int64_t left = qty, q, trade_price
        cdef Ord* o
        cdef bint found
        while left > 0:
            found = False
            for z in range(self.nz):
                sz = z if buying else zone
                bz = zone if buying else z
                cap = self._capacity(s, sz, bz)
                if cap <= 0:
                    continue
                fee = self.fees[s * self.nz * self.nz + sz * self.nz + bz]
                b = self.slot_books[s * self.nz + z]
                if b >= 0:
                    top = self._top(b, opposite)
                    while top >= 0 and self.orders[top].owner == owner:
                        self.orders[top].remaining = 0  # self-trade prevention
                        self.live.pop(self.orders[top].seq)
                        self.self_cancelled.append(self.orders[top].seq)
                        top = self._top(b, opposite)
                    if top >= 0:
                        eff = (self.orders[top].price + fee) if buying else (
                            self.orders[top].price - fee)
                        key = eff if buying else -eff
                        if not found or key < best_key or (
                                key == best_key and self.orders[top].seq < best_seq):
                            found = True
                            best_key, best_seq, best_h, best_z = key, self.orders[top].seq, top, z
                            best_price, best_fee, best_cap = self.orders[top].price, fee, cap
                if z == self.upstream:
                    trade_price = self.quotes[2 * s] if buying else self.quotes[2 * s + 1]
                    eff = (trade_price + fee) if buying else (trade_price - fee)
                    key = eff if buying else -eff
                    if not found or key < best_key or (
                            key == best_key and SUPPLIER_SEQ < best_seq):
                        found = True
                        best_key, best_seq, best_h, best_z = key, SUPPLIER_SEQ, -1, z
                        best_price, best_fee, best_cap = trade_price, fee, cap
            if not found:
                break
            if (price < best_key) if buying else (price > -best_key):
                break
            q = min(left, best_cap)
            if best_h >= 0:
                o = &self.orders[best_h]
                q = min(q, o.remaining)
                o.remaining -= q
                if o.remaining == 0:
                    self.live.pop(o.seq)
                self.fills.append((o.seq, best_z, best_price if buying else best_price - best_fee,
                                   best_fee, q, o.remaining))
            else:
                self.fills.append((-1, best_z, best_price if buying else best_price - best_fee,
                                   best_fee, q, UNLIMITED))
            left -= q
            self.fill_count += 1
            if buying:
                self._use(s, best_z, zone, q)
            else:
                self._use(s, zone, best_z, q)
        return left
