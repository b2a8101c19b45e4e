/*
 * keyhold's designation protocol, for spin.
 *
 * Two brokers (clocks SKEW apart) read the one state store, decide, and
 * commit with compare-and-swap; a commit lands at any tick up to its deadline
 * (CDL after the decision) or never. Three pod instances: pod 0 and its
 * restart, pod 1, in slot A; pod 2 in slot B. Pods count a grant's lifetime
 * from when they sent the request; replies arrive up to NET ticks late or
 * not at all; renewals during a store outage come from the broker's last
 * authoritative read. An operator promotes, pods release or, once fenced,
 * acknowledge with their slashing history, and pod 0's keeper may crash.
 * Faults happen only before TCALM; after it every due step is taken before
 * the clock moves on (that is the fairness the liveness property needs).
 *
 * Time is in ticks. Broken variants, each compiled in with -D:
 *   BROKEN_RECEIPT       holders count a grant from its receipt
 *   BROKEN_NO_DEADLINE   notBefore leaves out the commit deadline
 *   BROKEN_TWO_BACK      an acknowledgement from two epochs back is accepted
 *   BROKEN_ACK_HISTORY   an acknowledgement's interchange is dropped
 *   BROKEN_NO_CAS        a commit lands without comparing the record it read
 * README.md ("The model") says why these sizes reach every interleaving.
 */

#ifndef TTL
#define TTL 2
#endif
#ifndef OUTAGE
#define OUTAGE 1
#endif
#ifndef CDL
#define CDL 1
#endif
#ifndef SKEW
#define SKEW 1
#endif
#ifndef LAG
#define LAG 1
#endif
#ifndef NET
#define NET 1
#endif
#ifndef TCALM
#define TCALM 6
#endif
#ifndef MAXPROMO
#define MAXPROMO 1
#endif
#ifndef MAXSTOP
#define MAXSTOP 2
#endif

#define H (TTL + OUTAGE)
#ifdef BROKEN_NO_DEADLINE
#define WAIT (H + SKEW)
#else
#define WAIT (CDL + H + SKEW)
#endif
/* Worst case after the faults stop: the zombie's two last stop messages
 * win the compare-and-swap against its successor's first fetches, so the
 * takeover is decided two ticks after TCALM, on the clock that runs ahead,
 * and admitted on the one that runs behind, in the tick before TMAX. */
#ifndef BOUND
#define BOUND (WAIT + SKEW + 3)
#endif
#ifndef TMAX
#define TMAX (TCALM + BOUND)
#endif
/* A keeper renews when this little of its grant is left: any tick, so a
 * renewal can arrive late and still find its holder holding. */
#define DUE TTL

#define MIN(a, b) ((a) < (b) -> (a) : (b))
#define MAX(a, b) ((a) > (b) -> (a) : (b))

#define SLOT_A 0
#define SLOT_B 1
#define NOPOD 3

#define VACANT 0
#define HELD 1
#define RELEASED 2

typedef Rec {
  byte ep;      /* epoch: the fencing token */
  byte slot;
  byte pod;     /* the pod instance the epoch names, or NOPOD */
  byte st;      /* VACANT, HELD, RELEASED */
  byte nb;      /* notBefore, on the deciding broker's clock */
  byte wm;      /* merged slashing history: highest signed slot */
  bit proven;   /* the last holder's stop came with its history */
};

#define COPY(d, hx) d.ep = hx.ep; d.slot = hx.slot; d.pod = hx.pod; d.st = hx.st; d.nb = hx.nb; d.wm = hx.wm; d.proven = hx.proven
#define SAME(hx, y) (hx.ep == y.ep && hx.slot == y.slot && hx.pod == y.pod && hx.st == y.st && hx.nb == y.nb && hx.wm == y.wm && hx.proven == y.proven)

Rec s;              /* the state store's designation */
Rec zero;
bool up = true;     /* the state store answers */
byte outages;       /* one outage: a second only repeats the first */
byte now;           /* real time */

/* requests a pod has outstanding */
#define NOREQ 0
#define FETCH 1
#define RENEW 2
#define STOP 3
#define TAKEN 4
#define PROMOTE 5

#define IDLE 0
#define READ 1
#define COMMIT 2

typedef Broker {
  byte ph;        /* IDLE, READ (decision pending), COMMIT (write in flight) */
  byte who;       /* the pod served, or the promotion's target slot */
  byte kind;
  Rec snap;       /* the last authoritative read: it feeds the decision and is the outage cache */
  byte rd;        /* when it was read, on this broker's clock */
  bit cached;     /* snap holds a read */
  bit fromCache;  /* this decision runs on the cache: the store is down */
  byte readAt;    /* real time of the read, for the decision's lag */
  byte dl;        /* real time after which the commit can no longer land */
  Rec next;       /* what the commit writes */
  bit issue;      /* the commit, once landed, answers with a grant */
};
Broker br[2];
/* Broker 1 runs SKEW ahead: decider and admitter can be either, or the same. */
#define OFF(b) ((b) == 1 -> SKEW : 0)

#define OFFPOD 0
#define POLL 1
#define HOLD 2
#define STOPPED 3

typedef Pod {
  byte ph;
  byte ep;          /* epoch of its grant */
  byte till;        /* real time its grant ends: it holds while now < until */
  byte req;
  byte sent;        /* real time the outstanding request was sent */
  bit rep;          /* a grant is on its way to it */
  byte repBy;       /* latest arrival */
  byte life;        /* exp - iat of that grant */
  byte repEp;
  byte repWm;
  byte startWm;     /* the history it was handed with its grant */
  byte sign;        /* ghost: its last signing (slots are ticks) */
  byte stops;       /* release / acknowledgement messages sent */
  bit zombie;       /* replaced by a restart: polls no more */
  bit keeperDead;   /* no renewals, no acknowledgement, replies unheard */
};
Pod pod[3];

/* Scratch for one atomic step: hidden, so not part of the state. */
hidden byte hp, ht, hx, hu, hrx, hrw;

byte handed;        /* ghost: highest signing of any holder whose stop the broker accepted */
bit restarted;
byte promos;

#define SLOTOF(hp) ((hp) == 2 -> SLOT_B : SLOT_A)
#define holding(hp) (pod[hp].ph == HOLD && now < pod[hp].till)
#define calm (now >= TCALM)
#define holdsDesig ((holding(0) && s.slot == SLOT_A && pod[0].ep == s.ep) || \
                    (holding(1) && s.slot == SLOT_A && pod[1].ep == s.ep) || \
                    (holding(2) && s.slot == SLOT_B && pod[2].ep == s.ep))
#define others(hp) ((hp != 0 && holding(0)) || (hp != 1 && holding(1)) || (hp != 2 && holding(2)))

#define pending(hp) (pod[hp].req == FETCH || pod[hp].req == RENEW || pod[hp].req == STOP)

/* A step the clock must not skip past. */
#define overdue(b) ((br[b].ph == READ && now >= br[b].readAt + LAG) || (br[b].ph == COMMIT && now >= br[b].dl))
#define lateReply(hp) (pod[hp].rep && now >= pod[hp].repBy)
/* A fetch or renewal read later than sent is the same as one sent later,
 * except that its holder counts from the earlier send: read it this tick. */
#define unread(hp) (pod[hp].req == FETCH || pod[hp].req == RENEW)
/* After the faults stop, nothing that can happen now waits for the next tick. */
#define due(hp) (pending(hp) || pod[hp].rep)
#define canTick (now < TMAX && !overdue(0) && !overdue(1) && !lateReply(0) && !lateReply(1) && !lateReply(2) && \
  (!(unread(0) || unread(1) || unread(2)) || (br[0].ph != IDLE && br[1].ph != IDLE)) && \
  (now < TCALM || (up && br[0].ph == IDLE && br[1].ph == IDLE && !due(0) && !due(1) && !due(2))))

/* ---- brokers ---------------------------------------------------------- */

inline read(b) {
  if
  :: up ->
     COPY(br[b].snap, s); br[b].rd = now + OFF(b); br[b].cached = 1; br[b].fromCache = 0;
     br[b].readAt = now; br[b].ph = READ
  :: !up && br[b].kind == RENEW && br[b].cached ->
     br[b].fromCache = 1; br[b].readAt = now; br[b].ph = READ
  :: else -> /* 503: the pod tries again */
     if :: br[b].kind != PROMOTE -> pod[br[b].who].req = NOREQ :: else fi
  fi
}

inline take(b, hp) {
  br[b].who = hp; br[b].kind = pod[hp].req; pod[hp].req = TAKEN; read(b)
}

/* Fields no later step reads are zeroed, so that worlds that differ only in
 * them are one state. */
inline forget(b) {
  /* after the one outage (or once faults stop) no cache is read again */
  if :: (outages > 0 || calm) && up -> br[b].cached = 0; br[b].rd = 0; COPY(br[b].snap, zero) :: else fi
}

inline done(b) {
  br[b].ph = IDLE; br[b].who = 0; br[b].kind = 0; br[b].fromCache = 0; br[b].readAt = 0; br[b].dl = 0;
  br[b].issue = 0; COPY(br[b].next, zero);
  forget(b)
}

inline answer(hp) {
  pod[hp].req = NOREQ;
  if :: !pod[hp].rep -> pod[hp].sent = 0 :: else fi;
  settle(hp)
}

inline unreply(hp) {
  pod[hp].rep = 0; pod[hp].repBy = 0; pod[hp].life = 0; pod[hp].repEp = 0; pod[hp].repWm = 0; pod[hp].sent = 0
}

/* A stopped instance that will send nothing more is only its stop. */
inline settle(hp) {
  if
  :: pod[hp].ph == STOPPED && pod[hp].req == NOREQ && !pod[hp].rep &&
     (pod[hp].keeperDead || (pod[hp].zombie && pod[hp].stops >= MAXSTOP)) ->
     pod[hp].ep = 0; pod[hp].startWm = 0; pod[hp].sign = 0; pod[hp].stops = 0; pod[hp].sent = 0
  :: else
  fi
}

inline stopped(hp) { pod[hp].ph = STOPPED; pod[hp].till = 0; settle(hp) }

inline commit(b) { br[b].dl = now + CDL; br[b].ph = COMMIT }

inline grant(b, hp, gep) {
  ht = now + OFF(b);
  hx = MIN(ht + TTL, br[b].rd + H);   /* no exp past the read + H */
  if
  :: hx > ht -> pod[hp].rep = 1; pod[hp].repBy = now + NET; pod[hp].life = hx - ht; pod[hp].repEp = gep;
     pod[hp].repWm = br[b].next.wm
  :: else
  fi;
  answer(hp)
}

inline fenced(hp) {
  if :: pod[hp].ph == HOLD && !pod[hp].keeperDead -> stopped(hp) :: else fi
}

inline decide(b) {
  ht = now + OFF(b);
  hp = br[b].who;
  COPY(br[b].next, br[b].snap);
  br[b].issue = 0;
  if
  :: br[b].kind == RENEW ->
     if
     :: br[b].snap.st == HELD && br[b].snap.ep == pod[hp].ep && br[b].snap.pod == hp && ht >= br[b].snap.nb ->
        grant(b, hp, br[b].snap.ep)
     :: else ->
        answer(hp);
        /* stale_epoch only on an authoritative read; an old cache just fails the call */
        if :: !br[b].fromCache -> fenced(hp) :: else fi
     fi;
     done(b)
  :: br[b].kind == FETCH ->
     if
     :: SLOTOF(hp) != br[b].snap.slot -> answer(hp); done(b)   /* not_designated */
     :: else ->
        if
        :: br[b].snap.st == HELD && br[b].snap.pod == hp ->
           if
           :: ht < br[b].snap.nb -> answer(hp); done(b)        /* 425 */
           :: else -> br[b].issue = 1; commit(b)              /* re-issue, still by CAS */
           fi
        :: br[b].snap.st == HELD && br[b].snap.pod != hp ->    /* takeover */
           br[b].next.ep = br[b].snap.ep + 1; br[b].next.pod = hp; br[b].next.nb = ht + WAIT;
           br[b].next.proven = 0; commit(b)
        :: else ->                                            /* vacant or released */
           if
           :: ht < br[b].snap.nb -> answer(hp); done(b)
           :: else ->
              if :: br[b].snap.st == RELEASED -> br[b].next.ep = br[b].snap.ep + 1 :: else fi;
              br[b].next.pod = hp; br[b].next.st = HELD; br[b].issue = 1; commit(b)
           fi
        fi
     fi
  :: br[b].kind == STOP ->
     hx = MAX(pod[hp].startWm, pod[hp].sign);   /* the interchange it sends */
     if
     :: pod[hp].ep == br[b].snap.ep && hp == br[b].snap.pod && br[b].snap.st == HELD ->   /* release */
        br[b].next.st = RELEASED; br[b].next.nb = ht; br[b].next.wm = MAX(br[b].snap.wm, hx);
        br[b].next.proven = 1; commit(b)
     :: pod[hp].ep == br[b].snap.ep && hp == br[b].snap.pod && br[b].snap.st != HELD -> answer(hp); done(b)
#ifdef BROKEN_TWO_BACK
     :: pod[hp].ep + 1 == br[b].snap.ep || pod[hp].ep + 2 == br[b].snap.ep ->
#else
     :: pod[hp].ep + 1 == br[b].snap.ep ->                     /* the superseded instance acknowledges */
#endif
        br[b].next.nb = MIN(br[b].snap.nb, ht);
#ifndef BROKEN_ACK_HISTORY
        br[b].next.wm = MAX(br[b].snap.wm, hx);
#endif
        br[b].next.proven = 1; commit(b)
     :: else -> answer(hp); done(b)                            /* stale_epoch */
     fi
  :: br[b].kind == PROMOTE ->
     br[b].next.ep = br[b].snap.ep + 1; br[b].next.slot = hp; br[b].next.pod = NOPOD; br[b].next.st = VACANT;
     if
     :: br[b].snap.st != HELD -> br[b].next.nb = MAX(ht, br[b].snap.nb)   /* nobody can hold */
     :: else -> br[b].next.nb = ht + WAIT; br[b].next.proven = 0
     fi;
     commit(b)
  fi
}

inline land(b) {
  hp = br[b].who;
#ifdef BROKEN_NO_CAS
  if :: true ->
#else
  if :: SAME(s, br[b].snap) ->
#endif
     assert(br[b].next.ep >= s.ep);      /* epochs only rise */
     assert(br[b].next.wm >= s.wm);      /* the merged history never falls */
     COPY(s, br[b].next);
     /* a broker never replaces what it committed with its older read */
     COPY(br[b].snap, br[b].next);
     if
     :: br[b].kind == STOP -> handed = MAX(handed, pod[hp].sign); answer(hp)
     :: br[b].kind == FETCH && br[b].issue ->
        /* a new holder told its predecessor stopped with history gets all of it */
        assert(!s.proven || s.wm >= handed);
        grant(b, hp, s.ep)
     :: br[b].kind == FETCH && !br[b].issue -> answer(hp)   /* 425 until notBefore */
     :: br[b].kind == PROMOTE
     fi
  :: else ->                              /* lost the race: the caller tries again */
     if :: br[b].kind != PROMOTE -> answer(hp) :: else fi
  fi;
  done(b)
}

proctype broker(byte b) {
end:
  do
  :: atomic { now < TMAX && br[b].ph == IDLE && pending(0) -> take(b, 0) }
  :: atomic { now < TMAX && br[b].ph == IDLE && pending(1) -> take(b, 1) }
  :: atomic { now < TMAX && br[b].ph == IDLE && pending(2) -> take(b, 2) }
  :: atomic { now < TMAX && !calm && br[b].ph == IDLE && promos < MAXPROMO ->
       promos++; br[b].kind = PROMOTE;
       if :: br[b].who = SLOT_A :: br[b].who = SLOT_B fi;
       read(b) }
  :: atomic { now < TMAX && br[b].ph == READ -> decide(b) }
  /* the write reaches the store at any tick up to its deadline... */
  :: atomic { now < TMAX && br[b].ph == COMMIT && up && now <= br[b].dl -> land(b) }
  /* ...or never; the broker learns it from a read after the deadline */
  :: atomic { now < TMAX && br[b].ph == COMMIT && (!calm || !up) ->
       if :: br[b].kind != PROMOTE -> answer(br[b].who) :: else fi;
       done(b) }
  od
}

/* ---- pods ------------------------------------------------------------- */

/* What a pod sends goes out as a tick starts; brokers read it at any point
 * of the tick (or, for a stop, later). */
inline send(hp) {
  if
  :: pod[hp].req != NOREQ || pod[hp].rep || pod[hp].keeperDead
  :: else ->
     if
     :: pod[hp].ph == POLL && !pod[hp].zombie -> pod[hp].req = FETCH; pod[hp].sent = now
     :: holding(hp) && pod[hp].till - now <= DUE ->
        if
        :: pod[hp].req = RENEW; pod[hp].sent = now
        :: !calm                            /* a paused keeper misses its renewal */
        fi
     /* stopped and wiped: hand back the history, as a release or an acknowledgement */
     :: pod[hp].ph == STOPPED && pod[hp].stops < MAXSTOP && (pod[hp].stops == 0 || pod[hp].zombie) ->
        pod[hp].req = STOP; pod[hp].stops++
     /* the same instance asks again (its container restarted) */
     :: pod[hp].ph == STOPPED && pod[hp].stops > 0 && !pod[hp].zombie ->
        pod[hp].ph = POLL; pod[hp].stops = 0; pod[hp].ep = 0; pod[hp].startWm = 0; pod[hp].sign = 0;
        pod[hp].req = FETCH; pod[hp].sent = now
     :: else
     fi
  fi
}

proctype podp(byte i) {
end:
  do
  :: atomic { now < TMAX && pod[i].rep ->
#ifdef BROKEN_RECEIPT
       hu = now + pod[i].life;
#else
       hu = pod[i].sent + pod[i].life;
#endif
       hrx = pod[i].repEp; hrw = pod[i].repWm;
       unreply(i);
       if
       :: pod[i].keeperDead
       :: !pod[i].keeperDead && pod[i].ph == POLL && hu > now ->
          assert(!others(i));               /* never two holders */
          pod[i].ph = HOLD; pod[i].ep = hrx; pod[i].till = hu; pod[i].startWm = hrw
       :: !pod[i].keeperDead && holding(i) && hu > now ->
          assert(!others(i));
          pod[i].till = MAX(pod[i].till, hu)
       :: else
       fi;
       settle(i) }
  :: atomic { now < TMAX && !calm && pod[i].rep -> unreply(i); settle(i) }   /* lost */
  od
}

/* ---- faults and time -------------------------------------------------- */

proctype faults() {
end:
  do
  :: atomic { now < TMAX && !calm && up && outages == 0 -> up = 0; outages = 1 }
  :: atomic { now < TMAX && !up -> up = 1;
       if :: br[0].ph == IDLE -> forget(0) :: else fi;
       if :: br[1].ph == IDLE -> forget(1) :: else fi }
  /* pod 0 is replaced by pod 1: it lives on as a zombie, or its keeper
     crashes (it signs until its grant ends and never acknowledges), or it
     shuts down cleanly and releases */
  :: atomic { now < TMAX && !calm && !restarted ->
       restarted = 1; pod[1].ph = POLL; pod[0].zombie = 1;
       if
       :: skip
       :: pod[0].keeperDead = 1; settle(0)
       :: fenced(0)
       fi }
  od
}

proctype clock() {
end:
  do
  :: atomic { canTick ->
       /* a validator signs every slot it holds the key */
       if :: holding(0) -> pod[0].sign = now :: else fi;
       if :: holding(1) -> pod[1].sign = now :: else fi;
       if :: holding(2) -> pod[2].sign = now :: else fi;
       now++;
       /* the keeper stops the validator when its grant ends */
       if :: pod[0].ph == HOLD && now >= pod[0].till -> stopped(0) :: else fi;
       if :: pod[1].ph == HOLD && now >= pod[1].till -> stopped(1) :: else fi;
       if :: pod[2].ph == HOLD && now >= pod[2].till -> stopped(2) :: else fi;
       if :: now < TMAX -> send(0); send(1); send(2) :: else fi }
  od
}

init {
  atomic {
    s.ep = 1; s.slot = SLOT_A; s.pod = NOPOD; s.st = VACANT;
    pod[0].ph = POLL; pod[1].ph = OFFPOD; pod[2].ph = POLL;
    send(0); send(2);
    run broker(0); run broker(1); run podp(0); run podp(1); run podp(2); run faults(); run clock()
  }
}

/* Once the faults stop, the designated slot holds the key within BOUND. */
ltl live { <> (now >= TCALM && holdsDesig) }
