using Microsoft.Extensions.Logging;
using Smp.Agent.Connections;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Groups;

/// <summary>
/// Group messages that do not come straight from their author (groups.md §6.6.1–2): G_FWD, forwarded by the
/// introducer of two members until they are connected to each other, and G_HIST, the last messages of the
/// group given by an inviter to its newcomer. Both carry the author's G_MSG intact, so the receiver checks the
/// author's chain on them exactly as on a G_MSG from the author, and drops the copies by group message id.
/// </summary>
internal sealed class GroupRelay(IConnections conns, int historySize, ILogger log)
{
    private readonly IConnections _conns = conns;
    private readonly ILogger _log = log;

    /// <summary>How many of a group's last messages are kept and given to a newcomer (AgentOptions.GroupHistorySize; 0 = none).</summary>
    public int HistorySize { get; } = historySize;

    /// <summary>Most G_HIST a newcomer accepts for one join: more is not history any inviter of ours would send.</summary>
    public const int MaxHistoryIn = AgentOptions.MaxGroupHistorySize;

    /// <summary>
    /// Whether a G_MSG could be relayed: its G_HIST (the longer wrapper) with the longest member id fits an
    /// envelope. GSEND refuses anything else (CMD LARGE, groups.md §2), so a receiver refuses it too.
    /// </summary>
    internal static bool FitsRelayed(AgentEnvelope.GMsg m) =>
        Connections.Envelopes.Fits(new AgentEnvelope.GHist(new byte[64], DateTimeOffset.UtcNow, m));

    /// <summary>
    /// At an introducer, a G_MSG of <paramref name="author"/>, from it or relayed to us for the first time (our
    /// own history may still be coming when we start introducing, seed 450): for each live introduction of the
    /// author here whose author side has not reported G_CON yet, the other member gets it as G_FWD, once that
    /// member has a record of the author (the invitee from G_MEM at once; the existing member once G_MEM_INV went to it).
    /// The author queues its G_CON in the transaction that connects it to the other member, so every message
    /// it did not send to that member directly reaches us before its G_CON, on the same connection.
    /// </summary>
    internal void Forward(StoreTx tx, GroupRecord g, MemberRecord author, DateTimeOffset ts, AgentEnvelope.GMsg m, Effects fx)
    {
        var fwd = new AgentEnvelope.GFwd(author.MemberId!, ts, m);
        // An older author's largest message may not fit the wrapper: then it is not forwarded (groups.md §10).
        if (!Connections.Envelopes.Fits(fwd)) return;
        foreach (var to in ForwardTargets(tx, g, author.Id))
        {
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: G_FWD of {Author} seq {Seq} to {To}", Short(g.MemberId), Short(author.MemberId), m.AuthorSeq, Short(to.MemberId));
            _conns.Queue(tx, to.GroupConn, fwd, fx);
        }
    }

    /// <summary>The connected members that an introduction in this table is still making for <paramref name="authorRow"/> and that know it.</summary>
    internal static List<MemberRecord> ForwardTargets(StoreTx tx, GroupRecord g, long authorRow)
    {
        var targets = new List<MemberRecord>();
        foreach (var i in tx.IntroductionsOf(g.Alias, authorRow))
        {
            if (i.Status is IntroductionStatus.Connected or IntroductionStatus.Failed) continue;
            long other;
            if (i.Invitee == authorRow)
            {
                if (i.ConInvitee || i.Status != IntroductionStatus.Forwarded) continue;
                other = i.Member;
            }
            else
            {
                if (i.ConMember) continue;
                other = i.Invitee;
            }
            if (targets.Any(t => t.Id == other)) continue;
            if (tx.GetMember(other) is { Status: MemberStatus.Connected } member) targets.Add(member);
        }
        return targets;
    }

    /// <summary>
    /// Our own G_MSG, to every connected member, and to our inviter while we are joining: it goes after our
    /// G_JOIN on the same connection, so the inviter has us connected when it arrives and relays it like any of
    /// ours. A member being introduced to us cannot get it yet: its introducer forwards it. We mark where our
    /// messages to that member began to depend on the introducer, for <see cref="ReplayOwnTo"/>.
    /// </summary>
    internal AgentEnvelope.GMsg SendOwn(StoreTx tx, GroupRecord g, byte[] msgId, ReadOnlyMemory<byte> body, Effects fx)
    {
        var m = new AgentEnvelope.GMsg(msgId, g.LastSeq + 1, g.LastHash, body);
        // It must also fit when forwarded or given as history (G_FWD, G_HIST), groups.md §2.
        if (!FitsRelayed(m)) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
        foreach (var member in tx.ListMembers(g.Alias))
        {
            if (member.Status == MemberStatus.Connected || IsJoiningInviter(g, member)) _conns.Queue(tx, member.GroupConn, m, fx);
            else if (member.Status == MemberStatus.Joining && member.MemberId is not null) tx.MarkMissed(member.Id, m.AuthorSeq);
        }
        tx.SetGroupChain(g.Alias, m.AuthorSeq, GroupLayer.GroupMsgHash(m));
        tx.AppendHistory(g.Alias, g.MemberId, DateTimeOffset.UtcNow, m, HistorySize);
        return m;
    }

    private static bool IsJoiningInviter(GroupRecord g, MemberRecord m) =>
        m.Status == MemberStatus.Joining && g.InviterConn.Length > 0 && m.GroupConn == g.InviterConn;

    /// <summary>
    /// <paramref name="member"/> is connected to us and the member that introduced it has just gone: what that one was to forward of ours may never have reached it (the introducer removed
    /// with forwards still queued, seed 3064). Our own messages sent while it was being introduced go to it
    /// again, from our history, oldest first, as the G_MSGs they were; it drops those it had by message id.
    /// Only once the introducer is gone, so that they cannot overtake a forward still on its way.
    /// </summary>
    internal void ReplayOwnTo(StoreTx tx, GroupRecord g, MemberRecord member, Effects fx)
    {
        if (member.Status != MemberStatus.Connected) return;
        var (from, to) = tx.TakeMissed(member.Id);
        if (from == 0) return;
        foreach (var e in tx.ListHistory(g.Alias, g.MemberId).Where(e => e.Message.AuthorSeq >= from && e.Message.AuthorSeq <= to))
        {
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: own G_MSG seq {Seq} replayed to {To}", Short(g.MemberId), e.Message.AuthorSeq, Short(member.MemberId));
            _conns.Queue(tx, member.GroupConn, e.Message, fx);
        }
    }

    /// <summary>
    /// The member that introduced <paramref name="author"/> to us is gone, and with it the forwards of what the
    /// author said before it reached us directly (seed 720: the introducer was removed with them still queued).
    /// We ask the author for its messages from our chain head on (G_RESEND, §6.6.1). Not while we have nothing
    /// of it (we cannot tell what we lack), and once only: with its introducer gone, nothing after the author's
    /// answer can make a new gap that the author could fill.
    /// </summary>
    internal void AskAgain(StoreTx tx, MemberRecord author, Effects fx)
    {
        if (author.Status != MemberStatus.Connected || !author.HasChainHead || author.GroupConn.Length == 0) return;
        if (tx.ResendFrom(author.Id) != 0) return;
        var from = author.LastSeq + 1;
        tx.SetResendFrom(author.Id, from);
        if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("G_RESEND {Seq} to {Author}", from, Short(author.MemberId));
        _conns.Queue(tx, author.GroupConn, new AgentEnvelope.GResend(from), fx);
    }

    /// <summary>
    /// G_RESEND: a connected member asks for our own messages again from a sequence number on (§6.6.1). They go
    /// from our history, oldest first, as the G_MSGs they were, then G_RESENT says that was all; each message at
    /// most once to that member, so asking again and again costs one envelope each. A sequence number beyond any
    /// we sent is refused.
    /// </summary>
    internal bool OnResend(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GResend r, Effects fx)
    {
        if (!GroupEnvelopeHandler.Serving(g) || from.Status != MemberStatus.Connected || r.FromSeq > g.LastSeq + 1) return false;
        var start = Math.Max(r.FromSeq, tx.ResentTo(from.Id) + 1);
        foreach (var e in tx.ListHistory(g.Alias, g.MemberId).Where(e => e.Message.AuthorSeq >= start))
        {
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: own G_MSG seq {Seq} sent again to {To}", Short(g.MemberId), e.Message.AuthorSeq, Short(from.MemberId));
            _conns.Queue(tx, from.GroupConn, e.Message, fx);
        }
        if (start <= g.LastSeq) tx.SetResentTo(from.Id, g.LastSeq);
        _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GResent(r.FromSeq), fx);
        return true;
    }

    /// <summary>
    /// G_RESENT: the author's answer to our G_RESEND is complete. A gap still before its next message will not be
    /// filled: that message goes on with the gap reported instead of waiting (GroupEnvelopeHandler.Waits). One for
    /// a point we did not ask from is refused; a repeat changes nothing.
    /// </summary>
    internal bool OnResent(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GResent r, Effects fx)
    {
        if (g.Status != GroupStatus.Active || from.Status != MemberStatus.Connected) return false;
        var asked = tx.ResendFrom(from.Id);
        if (asked == -r.FromSeq) return true;
        if (asked != r.FromSeq) return false;
        tx.SetResendFrom(from.Id, -r.FromSeq);
        ResumeAuthor(from, fx);
        return true;
    }

    /// <summary>
    /// At an introducer, when G_MEM_INV has just gone to <paramref name="member"/>: the invitee's messages that
    /// arrived before the member could be told of it are replayed from the history, as G_FWD, oldest first.
    /// </summary>
    internal bool ReplayTo(StoreTx tx, GroupRecord g, MemberRecord invitee, MemberRecord member, Effects fx)
    {
        if (invitee.MemberId is null) return false;
        var replayed = false;
        foreach (var e in tx.ListHistory(g.Alias, invitee.MemberId))
        {
            var fwd = new AgentEnvelope.GFwd(e.AuthorId, e.AuthorTs, e.Message);
            if (!Connections.Envelopes.Fits(fwd)) continue;
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: G_FWD of {Author} seq {Seq} replayed to {To}", Short(g.MemberId), Short(e.AuthorId), e.Message.AuthorSeq, Short(member.MemberId));
            _conns.Queue(tx, member.GroupConn, fwd, fx);
            replayed = true;
        }
        return replayed;
    }

    /// <summary>
    /// At an introducer that gives <paramref name="to"/> none of <paramref name="author"/>'s messages (no history or
    /// replay of them): G_HEAD, where the author's chain stands here. Without it, a member with nothing of the
    /// author takes the author's first direct message as its chain's start, and forwards of earlier ones that come
    /// after it are out of order (seed 8433, §6.6.1). Our invitee's messages all come to us, from its first, so
    /// with none of them yet its next one is its first; of another member with none, we cannot say.
    /// </summary>
    internal void TellHead(StoreTx tx, GroupRecord g, MemberRecord author, MemberRecord to, Effects fx)
    {
        if (HeadOf(author) is { } head) QueueHeads(tx, g, [head], to, fx);
    }

    private static ChainHeadEntry? HeadOf(MemberRecord author) =>
        author.MemberId is null || !(author.HasChainHead || author.InvitedByUs) || (author.LastSeq == 0) != (author.LastHash.Length == 0)
            ? null : new ChainHeadEntry(author.MemberId, author.LastSeq, author.LastHash);

    /// <summary>As few G_HEADs as hold the entries, each within an envelope.</summary>
    private void QueueHeads(StoreTx tx, GroupRecord g, List<ChainHeadEntry> heads, MemberRecord to, Effects fx)
    {
        var batch = new List<ChainHeadEntry>();
        foreach (var head in heads)
        {
            if (batch.Count > 0 && (batch.Count == AgentEnvelope.MaxHeadEntries || !Connections.Envelopes.Fits(new AgentEnvelope.GHead([.. batch, head]))))
            {
                QueueHeadBatch(tx, g, batch, to, fx);
                batch = [];
            }
            batch.Add(head);
        }
        if (batch.Count > 0) QueueHeadBatch(tx, g, batch, to, fx);
    }

    private void QueueHeadBatch(StoreTx tx, GroupRecord g, List<ChainHeadEntry> batch, MemberRecord to, Effects fx)
    {
        if (_log.IsEnabled(LogLevel.Debug))
            _log.LogDebug("group {Me}: G_HEAD of {Heads} to {To}", Short(g.MemberId), string.Join(", ", batch.Select(h => $"{Short(h.MemberId)} seq {h.LastSeq}")), Short(to.MemberId));
        _conns.Queue(tx, to.GroupConn, new AgentEnvelope.GHead(batch), fx);
    }

    /// <summary>
    /// G_HEAD: each author's chain position from the member that introduced it to us, taken while we have nothing
    /// of that author; once we have (a direct message came first, or history), it changes nothing. Nor does an
    /// entry about an author that failed or went meanwhile, or, from a member that speaks G_VIEW, one about an
    /// author another member introduced to us (it lost a race to introduce it, §6.11). An entry about an unknown
    /// member, our inviter or invitee (nobody introduces those), an author twice, or another's author from a
    /// member without views refuses the whole envelope.
    /// </summary>
    internal bool OnHead(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GHead h)
    {
        if (!GroupEnvelopeHandler.Serving(g) || from.Status != MemberStatus.Connected) return false;
        var authors = new List<(MemberRecord Author, ChainHeadEntry Head)>();
        foreach (var head in h.Heads)
        {
            var author = tx.MemberById(g.Alias, head.MemberId);
            if (author is null || author.IntroducerConn.Length == 0 || authors.Any(a => a.Author.Id == author.Id)) return false;
            if (author.IntroducerConn != from.GroupConn && !tx.Gossips(from.Id)) return false;
            authors.Add((author, head));
        }
        foreach (var (author, head) in authors)
            if (author is { Status: MemberStatus.Joining or MemberStatus.Connected, HasChainHead: false } && author.IntroducerConn == from.GroupConn)
                tx.SetChainHead(author.Id, head.LastSeq, head.LastHash);
        return true;
    }

    /// <summary>At the inviter, on the newcomer's G_JOIN: the group's last messages as G_HIST, oldest first.</summary>
    internal void SendHistory(StoreTx tx, GroupRecord g, MemberRecord newcomer, IReadOnlyList<MemberRecord> introduced, Effects fx)
    {
        var history = HistorySize <= 0 ? [] : tx.ListHistory(g.Alias);
        var sent = history.Skip(Math.Max(0, history.Count - HistorySize))
            .Select(e => new AgentEnvelope.GHist(e.AuthorId, e.AuthorTs, e.Message)).Where(Connections.Envelopes.Fits).ToList();
        // Members the newcomer gets no history of: where their chains stand here, so that it can tell a gap (§6.6.1).
        var heads = introduced.Where(m => m.MemberId is { } id && !sent.Any(h => h.AuthorMemberId.AsSpan().SequenceEqual(id)))
            .Select(HeadOf).OfType<ChainHeadEntry>().ToList();
        QueueHeads(tx, g, heads, newcomer, fx);
        foreach (var hist in sent)
        {
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: G_HIST of {Author} seq {Seq} to {To}", Short(g.MemberId), Short(hist.AuthorMemberId), hist.Message.AuthorSeq, Short(newcomer.MemberId));
            _conns.Queue(tx, newcomer.GroupConn, hist, fx);
        }
    }

    /// <summary>
    /// G_FWD: accepted only from the member that introduced the author to us, while the author is joining or
    /// connected (a straggler forwarded after we connected is dropped as a copy if we had it directly).
    /// </summary>
    internal bool OnForwarded(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GFwd f, Effects fx)
    {
        // Leaving, we still keep it and pass it on to members we introduce its author to (§6.7; seed 720).
        if (!GroupEnvelopeHandler.Serving(g) || from.Status != MemberStatus.Connected || !FitsRelayed(f.Message)) return false;
        var author = tx.MemberById(g.Alias, f.AuthorMemberId);
        if (author is null || author.Status is not (MemberStatus.Joining or MemberStatus.Connected)) return false;
        if (author.IntroducerConn.Length == 0)
            // Our inviter or invitee: connected to us from the start, nobody's to forward (§6.6.1).
            return false;
        // Once the author's introducer is gone, it forwards nothing more, and what the author said before it
        // reached us directly comes only from another member introducing it to us (seed 873).
        var stands = author.IntroducerConn == from.GroupConn
            || tx.Gossips(from.Id) && tx.MemberByConn(author.IntroducerConn) is { IsLive: false };
        if (!stands)
        {
            // A member that speaks G_VIEW may have lost a race to introduce the author, or not know yet that
            // we are connected to it (§6.11): what it forwards is not its to give; dropped, quietly as the race.
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: G_FWD of {Author} seq {Seq} from {From} dropped: not its introducer", Short(g.MemberId), Short(author.MemberId),
                f.Message.AuthorSeq, Short(from.MemberId));
            return tx.Gossips(from.Id);
        }
        if (!tx.MarkGroupMsgSeen(author.Id, f.Message.GroupMsgId)) return true;
        var integrity = Chain(tx, author, f.Message);
        GroupEnvelopeHandler.GroupEvent(tx, g, new AgentCommand.GFMsg(AuthorName(author), integrity, f.Message.AuthorSeq, f.AuthorTs, f.Message.Body));
        tx.AppendHistory(g.Alias, f.AuthorMemberId, f.AuthorTs, f.Message, HistorySize);
        Forward(tx, g, author, f.AuthorTs, f.Message, fx);
        ResumeAuthor(author, fx);
        return true;
    }

    /// <summary>
    /// G_HIST at a newcomer: only from our inviter, while it is connected and before its G_ALL, at most
    /// <see cref="MaxHistoryIn"/> of them. Each sets its author's chain head, so the author's first live
    /// message is checked against it; an author we have no record of is named by its member id.
    /// </summary>
    internal bool OnHistory(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GHist h, Effects fx)
    {
        if (g.Status != GroupStatus.Active || g.InviterConn.Length == 0 || g.InviterConn != from.GroupConn
            || from.Status != MemberStatus.Connected || !FitsRelayed(h.Message)
            || g.MemberId.AsSpan().SequenceEqual(h.AuthorMemberId))
            return false;
        var (received, closed) = tx.HistoryIn(g.Alias);
        if (closed || received >= MaxHistoryIn) return false;
        tx.CountHistoryIn(g.Alias);
        var integrity = MsgIntegrity.Ok;
        string name;
        if (tx.MemberById(g.Alias, h.AuthorMemberId) is { } author)
        {
            if (!tx.MarkGroupMsgSeen(author.Id, h.Message.GroupMsgId)) return true;
            integrity = Chain(tx, author, h.Message);
            name = AuthorName(author);
            Forward(tx, g, author, h.AuthorTs, h.Message, fx);
            ResumeAuthor(author, fx);
        }
        else
        {
            // Had in an earlier membership of ours (we were re-added): not again (seed 433).
            if (tx.SeenBefore(g.GroupId, h.AuthorMemberId, h.Message.GroupMsgId)) return true;
            name = GroupAuthor.OfMemberId(h.AuthorMemberId);
        }
        GroupEnvelopeHandler.GroupEvent(tx, g, new AgentCommand.GHMsg(name, integrity, h.Message.AuthorSeq, h.AuthorTs, h.Message.Body));
        tx.AppendHistory(g.Alias, h.AuthorMemberId, h.AuthorTs, h.Message, HistorySize);
        return true;
    }

    /// <summary>
    /// The author's chain check (§6.6 step 2) for a relayed message; the head moves only forward, because a
    /// forwarded message can arrive after a later one the author sent us directly.
    /// </summary>
    private static MsgIntegrity Chain(StoreTx tx, MemberRecord author, AgentEnvelope.GMsg m)
    {
        var integrity = !author.HasChainHead ? MsgIntegrity.Ok : MsgIntegrity.Check(author.LastSeq, author.LastHash, m.AuthorSeq, m.PrevHash);
        if (m.AuthorSeq > author.LastSeq) tx.SetMemberChain(author.Id, m.AuthorSeq, GroupLayer.GroupMsgHash(m));
        return integrity;
    }

    /// <summary>The author's own messages that waited for a gap before them (GroupEnvelopeHandler.Waits) may go on now.</summary>
    private static void ResumeAuthor(MemberRecord author, Effects fx)
    {
        if (author.GroupConn.Length > 0) fx.Resume.Add(author.GroupConn);
    }

    /// <summary>A message received from its author, kept for later newcomers.</summary>
    internal void Keep(StoreTx tx, GroupRecord g, byte[] author, DateTimeOffset ts, AgentEnvelope.GMsg m) => tx.AppendHistory(g.Alias, author, ts, m, HistorySize);

    private static string Short(byte[]? memberId) => GroupEnvelopeHandler.Short(memberId);

    /// <summary>The author's member alias, or '#' and its member id while its queues are not made yet.</summary>
    private static string AuthorName(MemberRecord author) =>
        author.DirectAlias.Length > 0 ? author.DirectAlias : GroupAuthor.OfMemberId(author.MemberId!);
}
