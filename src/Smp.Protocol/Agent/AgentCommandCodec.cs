using System.Buffers;
using Smp.Protocol.Encodings;

namespace Smp.Protocol.Agent;

/// <summary>
/// The command line of a client-protocol transmission, with the body that may follow it
/// (agent.md §3, groups.md §2):
/// <code>
/// command   = clientCommand / agentEvent
/// clientCommand = "NEW" / "JOIN" SP queueInfo [SP "NO_REPLY"] / "SUB" / "SUBALL" / "SEND" SP body / "OFF" / "DEL"
///           / "GNEW" [SP "I=" memberInfo] SP body / "GADD" SP alias / "GJOIN" SP invId [SP body]
///           / "GREJECT" SP invId / "GSEND" SP body / "GINFO" SP body   ; GINFO: our own member info
///           / "GLEAVE" / "GMDEL" SP alias / "GDEL" / "GMEMBERS"
/// agentEvent = "INV" SP queueInfo / "CON" / "END" / "OK" / "SENT" SP agentMsgId / "ERR" SP agentError
///           / "MSG" SP integrity SP "R=" agentMsgId "," ts SP "B=" srvMsgId "," ts SP "S=" sndMsgId "," ts SP body
///           / "DOWN" SP server / "UP" SP server
///           / "GINV" SP invId SP body / "GCON" SP alias / "GALL" SP alias / "GSENT" SP groupMsgId
///           / "GMSG" SP alias SP integrity SP "S=" authorSeq "," ts SP body
///           / "GLEFT" SP alias / "GMDELETED" SP alias / "GREMOVED" SP alias / "GEMPTY"
///           / "GDELETED" SP alias / "GREJECTED" SP alias / "GMEM" SP alias SP memberId SP status [SP body]
///           / "GMFAILED" SP alias SP reason  ; reason: groups.md §4 (G_ADD_ERR)
///           / "GMINFO" SP alias SP body      ; a member's own info (groups.md §3)
/// memberInfo = b64(bytes)                  ; GNEW's body is the group info, so our own info rides on the line
/// ; GJOIN's body and GMEM's trailing body are member info; without one both read as before (older clients)
///           / "GFMSG" SP author SP integrity SP "S=" authorSeq "," ts SP body   ; forwarded (groups.md §6.6.1)
///           / "GHMSG" SP author SP integrity SP "S=" authorSeq "," ts SP body   ; history (groups.md §6.6.2)
/// author    = alias / "#" memberId     ; '#' + b64 id for an author with no alias here
/// body      = ":" text / size              ; both end the command line
/// text      = *(%x00-09 / %x0B-FF)         ; to the end of the line, one trailing CR stripped
/// size      = 1*9DIGIT                     ; then exactly size bytes, then an empty line (EOL)
/// status    = "INVITED" / "JOINING" / "CONNECTED" / "LEFT" / "REMOVED" / "FAILED"
/// agentMsgId, sndMsgId, authorSeq = 1*18DIGIT ; srvMsgId, invId, groupMsgId, memberId = b64
/// ts        = yyyy-MM-ddTHH:mm:ss.fffZ ; server = host[:port][#keyHash] ; queueInfo: smp-wire.md §6
/// integrity: <see cref="MsgIntegrity"/> ; agentError: <see cref="AgentErrors"/> ; alias: <see cref="AgentAlias"/>
/// </code>
/// We always write the sized form as <c>size LF bytes</c> (the reference's MSG); the transmission's CRLF follows.
/// A body spec after SP that is not <c>:</c> text and not 1 to 9 digits is CMD SIZE, not SYNTAX.
/// </summary>
public static class AgentCommandCodec
{
    private static ReadOnlySpan<byte> NewKw => "NEW"u8;
    private static ReadOnlySpan<byte> JoinKw => "JOIN"u8;
    private static ReadOnlySpan<byte> NoReplyKw => "NO_REPLY"u8;
    private static ReadOnlySpan<byte> SubKw => "SUB"u8;
    private static ReadOnlySpan<byte> SubAllKw => "SUBALL"u8;
    private static ReadOnlySpan<byte> SendKw => "SEND"u8;
    private static ReadOnlySpan<byte> OffKw => "OFF"u8;
    private static ReadOnlySpan<byte> DelKw => "DEL"u8;
    private static ReadOnlySpan<byte> GNewKw => "GNEW"u8;
    private static ReadOnlySpan<byte> GAddKw => "GADD"u8;
    private static ReadOnlySpan<byte> GJoinKw => "GJOIN"u8;
    private static ReadOnlySpan<byte> GRejectKw => "GREJECT"u8;
    private static ReadOnlySpan<byte> GSendKw => "GSEND"u8;
    private static ReadOnlySpan<byte> GLeaveKw => "GLEAVE"u8;
    private static ReadOnlySpan<byte> GMDelKw => "GMDEL"u8;
    private static ReadOnlySpan<byte> GDelKw => "GDEL"u8;
    private static ReadOnlySpan<byte> GMembersKw => "GMEMBERS"u8;
    private static ReadOnlySpan<byte> InvKw => "INV"u8;
    private static ReadOnlySpan<byte> ConKw => "CON"u8;
    private static ReadOnlySpan<byte> EndKw => "END"u8;
    private static ReadOnlySpan<byte> OkKw => "OK"u8;
    private static ReadOnlySpan<byte> SentKw => "SENT"u8;
    private static ReadOnlySpan<byte> MsgKw => "MSG"u8;
    private static ReadOnlySpan<byte> ErrKw => "ERR"u8;
    private static ReadOnlySpan<byte> DownKw => "DOWN"u8;
    private static ReadOnlySpan<byte> UpKw => "UP"u8;
    private static ReadOnlySpan<byte> GInvKw => "GINV"u8;
    private static ReadOnlySpan<byte> GConKw => "GCON"u8;
    private static ReadOnlySpan<byte> GAllKw => "GALL"u8;
    private static ReadOnlySpan<byte> GSentKw => "GSENT"u8;
    private static ReadOnlySpan<byte> GMsgKw => "GMSG"u8;
    private static ReadOnlySpan<byte> GLeftKw => "GLEFT"u8;
    private static ReadOnlySpan<byte> GMDeletedKw => "GMDELETED"u8;
    private static ReadOnlySpan<byte> GRemovedKw => "GREMOVED"u8;
    private static ReadOnlySpan<byte> GEmptyKw => "GEMPTY"u8;
    private static ReadOnlySpan<byte> GDeletedKw => "GDELETED"u8;
    private static ReadOnlySpan<byte> GRejectedKw => "GREJECTED"u8;
    private static ReadOnlySpan<byte> GMemKw => "GMEM"u8;
    private static ReadOnlySpan<byte> GMFailedKw => "GMFAILED"u8;
    private static ReadOnlySpan<byte> GMInfoKw => "GMINFO"u8;
    private static ReadOnlySpan<byte> GInfoKw => "GINFO"u8;
    private static ReadOnlySpan<byte> MemberInfoPrefix => "I="u8;
    private static ReadOnlySpan<byte> GFMsgKw => "GFMSG"u8;
    private static ReadOnlySpan<byte> GHMsgKw => "GHMSG"u8;

    public const int MaxSizeDigits = 9;

    private static readonly TokenTable<GroupMemberStatus> Statuses = new(
        (GroupMemberStatus.Invited, "INVITED"u8.ToArray()),
        (GroupMemberStatus.Joining, "JOINING"u8.ToArray()),
        (GroupMemberStatus.Connected, "CONNECTED"u8.ToArray()),
        (GroupMemberStatus.Left, "LEFT"u8.ToArray()),
        (GroupMemberStatus.Removed, "REMOVED"u8.ToArray()),
        (GroupMemberStatus.Failed, "FAILED"u8.ToArray()));

    /// <summary>Writes the command line and, for the kinds with a body, <c>size LF bytes</c>; not the final CRLF.</summary>
    public static void Write(IBufferWriter<byte> w, AgentCommand command)
    {
        switch (command)
        {
            case AgentCommand.New: w.Write(NewKw); break;
            case AgentCommand.Join c:
                w.Write(JoinKw); WireText.Sp(w); WireText.WriteQueueInfo(w, c.QueueInfo);
                if (c.NoReply) { WireText.Sp(w); w.Write(NoReplyKw); }
                break;
            case AgentCommand.Sub: w.Write(SubKw); break;
            case AgentCommand.SubAll: w.Write(SubAllKw); break;
            case AgentCommand.Send c: w.Write(SendKw); SizedBody(w, c.Body); break;
            case AgentCommand.Off: w.Write(OffKw); break;
            case AgentCommand.Del: w.Write(DelKw); break;
            case AgentCommand.GNew c:
                w.Write(GNewKw);
                if (!c.MemberInfo.IsEmpty) { WireText.Sp(w); w.Write(MemberInfoPrefix); B64.Write(w, c.MemberInfo.Span); }
                SizedBody(w, c.GroupInfo);
                break;
            case AgentCommand.GAdd c: w.Write(GAddKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GJoin c:
                w.Write(GJoinKw); Id(w, c.InvitationId);
                if (!c.MemberInfo.IsEmpty) SizedBody(w, c.MemberInfo);
                break;
            case AgentCommand.GReject c: w.Write(GRejectKw); Id(w, c.InvitationId); break;
            case AgentCommand.GSend c: w.Write(GSendKw); SizedBody(w, c.Body); break;
            case AgentCommand.GLeave: w.Write(GLeaveKw); break;
            case AgentCommand.GMDel c: w.Write(GMDelKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GDel: w.Write(GDelKw); break;
            case AgentCommand.GMembers: w.Write(GMembersKw); break;
            case AgentCommand.Inv c: w.Write(InvKw); WireText.Sp(w); WireText.WriteQueueInfo(w, c.QueueInfo); break;
            case AgentCommand.Con: w.Write(ConKw); break;
            case AgentCommand.End: w.Write(EndKw); break;
            case AgentCommand.Ok: w.Write(OkKw); break;
            case AgentCommand.Sent c: w.Write(SentKw); Decimal(w, c.AgentMsgId); break;
            case AgentCommand.Msg c:
                w.Write(MsgKw); WireText.Sp(w); c.Integrity.Write(w);
                w.Write(" R="u8); Stamp(w, c.RecipientMsgId, c.RecipientTs);
                w.Write(" B="u8); B64.Write(w, c.BrokerMsgId); w.Write(","u8); WireText.WriteTimestamp(w, c.BrokerTs);
                w.Write(" S="u8); Stamp(w, c.SenderMsgId, c.SenderTs);
                SizedBody(w, c.Body);
                break;
            case AgentCommand.Err c: w.Write(ErrKw); WireText.Sp(w); AgentErrors.Write(w, c.Error); break;
            case AgentCommand.Down c: w.Write(DownKw); WireText.Sp(w); WireText.WriteAscii(w, c.Server.ToString()); break;
            case AgentCommand.Up c: w.Write(UpKw); WireText.Sp(w); WireText.WriteAscii(w, c.Server.ToString()); break;
            case AgentCommand.GInv c: w.Write(GInvKw); Id(w, c.InvitationId); SizedBody(w, c.GroupInfo); break;
            case AgentCommand.GCon c: w.Write(GConKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GAll c: w.Write(GAllKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GSent c: w.Write(GSentKw); Id(w, c.GroupMsgId); break;
            case AgentCommand.GMsg c:
                w.Write(GMsgKw); Alias(w, c.MemberAlias); WireText.Sp(w); c.Integrity.Write(w);
                w.Write(" S="u8); Stamp(w, c.AuthorSeq, c.AuthorTs);
                SizedBody(w, c.Body);
                break;
            case AgentCommand.GFMsg c: w.Write(GFMsgKw); AuthoredMessage(w, c.Author, c.Integrity, c.AuthorSeq, c.AuthorTs, c.Body); break;
            case AgentCommand.GHMsg c: w.Write(GHMsgKw); AuthoredMessage(w, c.Author, c.Integrity, c.AuthorSeq, c.AuthorTs, c.Body); break;
            case AgentCommand.GLeft c: w.Write(GLeftKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GMDeleted c: w.Write(GMDeletedKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GRemoved c: w.Write(GRemovedKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GEmpty: w.Write(GEmptyKw); break;
            case AgentCommand.GDeleted c: w.Write(GDeletedKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GRejected c: w.Write(GRejectedKw); Alias(w, c.MemberAlias); break;
            case AgentCommand.GMFailed c:
                w.Write(GMFailedKw); Alias(w, c.MemberAlias); WireText.Sp(w); w.Write(AgentPlaintextCodec.ReasonToken(c.Reason)); break;
            case AgentCommand.GMem c:
                w.Write(GMemKw); Alias(w, c.MemberAlias); Id(w, c.MemberId); WireText.Sp(w); w.Write(StatusToken(c.Status));
                if (!c.Info.IsEmpty) SizedBody(w, c.Info);
                break;
            case AgentCommand.GMInfo c: w.Write(GMInfoKw); Alias(w, c.MemberAlias); SizedBody(w, c.Info); break;
            case AgentCommand.GInfo c: w.Write(GInfoKw); SizedBody(w, c.MemberInfo); break;
            default: throw new ArgumentException("unknown command", nameof(command));
        }
    }

    public static ReadOnlySpan<byte> StatusToken(GroupMemberStatus status) => Statuses.Token(status);

    /// <summary>
    /// Parses one command line (line end already removed). For a sized body the command comes back with an
    /// empty body and <paramref name="bodySize"/> set: the caller reads the bytes and calls
    /// <see cref="AgentCommand.WithBody"/>. A text body is a slice of <paramref name="line"/>. Throws
    /// <see cref="AgentProtocolException"/> with CMD SYNTAX, or CMD SIZE for a malformed size. Streams should use
    /// <see cref="AgentTransmissionParser"/>; this is for single lines, such as a terminal's input.
    /// </summary>
    public static AgentCommand ParseLine(ReadOnlyMemory<byte> line, out int? bodySize)
    {
        bodySize = null;
        var r = new WireReader(line.Span, AgentErrorCode.CmdSyntax);
        AgentCommand command;
        // SUBALL before SUB and the longer G* words before their prefixes would not matter (keywords need a
        // delimiter after them), but the order is kept longest-first for the reader's sake.
        if (r.Keyword(NewKw)) command = new AgentCommand.New();
        else if (r.Keyword(JoinKw))
        {
            r.Sp();
            var queue = r.QueueInfo();
            var noReply = false;
            if (r.TrySp())
            {
                if (!r.Keyword(NoReplyKw)) throw r.Fail();
                noReply = true;
            }
            command = new AgentCommand.Join(queue, noReply);
        }
        else if (r.Keyword(SubAllKw)) command = new AgentCommand.SubAll();
        else if (r.Keyword(SubKw)) command = new AgentCommand.Sub();
        else if (r.Keyword(SendKw)) command = new AgentCommand.Send(Body(ref r, line, ref bodySize));
        else if (r.Keyword(OffKw)) command = new AgentCommand.Off();
        else if (r.Keyword(DelKw)) command = new AgentCommand.Del();
        else if (r.Keyword(GNewKw))
        {
            var memberInfo = MemberInfoField(ref r);
            command = new AgentCommand.GNew(Body(ref r, line, ref bodySize), memberInfo);
        }
        else if (r.Keyword(GAddKw)) command = new AgentCommand.GAdd(Alias(ref r));
        else if (r.Keyword(GJoinKw))
        {
            var inv = Id(ref r);
            command = new AgentCommand.GJoin(inv, r.AtEnd ? ReadOnlyMemory<byte>.Empty : Body(ref r, line, ref bodySize));
        }
        else if (r.Keyword(GRejectKw)) command = new AgentCommand.GReject(Id(ref r));
        else if (r.Keyword(GSendKw)) command = new AgentCommand.GSend(Body(ref r, line, ref bodySize));
        else if (r.Keyword(GLeaveKw)) command = new AgentCommand.GLeave();
        else if (r.Keyword(GMDelKw)) command = new AgentCommand.GMDel(Alias(ref r));
        else if (r.Keyword(GDelKw)) command = new AgentCommand.GDel();
        else if (r.Keyword(GMembersKw)) command = new AgentCommand.GMembers();
        else if (r.Keyword(GInfoKw)) command = new AgentCommand.GInfo(Body(ref r, line, ref bodySize));
        else if (r.Keyword(InvKw)) { r.Sp(); command = new AgentCommand.Inv(r.QueueInfo()); }
        else if (r.Keyword(ConKw)) command = new AgentCommand.Con();
        else if (r.Keyword(EndKw)) command = new AgentCommand.End();
        else if (r.Keyword(OkKw)) command = new AgentCommand.Ok();
        else if (r.Keyword(SentKw)) command = new AgentCommand.Sent(Decimal(ref r));
        else if (r.Keyword(MsgKw))
        {
            var integrity = Integrity(ref r);
            r.Literal(" R="u8);
            var (rid, rts) = Stamp(ref r);
            r.Literal(" B="u8);
            var (bid, bts) = BrokerStamp(ref r);
            r.Literal(" S="u8);
            var (sid, sts) = Stamp(ref r);
            command = new AgentCommand.Msg(integrity, rid, rts, bid, bts, sid, sts, Body(ref r, line, ref bodySize));
        }
        else if (r.Keyword(ErrKw))
        {
            r.Sp();
            if (!AgentErrors.TryParse(r.TakeRest(), out var error)) throw r.Fail();
            command = new AgentCommand.Err(error!);
        }
        else if (r.Keyword(DownKw)) command = new AgentCommand.Down(Server(ref r));
        else if (r.Keyword(UpKw)) command = new AgentCommand.Up(Server(ref r));
        else if (r.Keyword(GInvKw))
        {
            var inv = Id(ref r);
            command = new AgentCommand.GInv(inv, Body(ref r, line, ref bodySize));
        }
        else if (r.Keyword(GConKw)) command = new AgentCommand.GCon(Alias(ref r));
        else if (r.Keyword(GAllKw)) command = new AgentCommand.GAll(Alias(ref r));
        else if (r.Keyword(GSentKw)) command = new AgentCommand.GSent(Id(ref r));
        else if (r.Keyword(GMsgKw))
        {
            var alias = Alias(ref r);
            var integrity = Integrity(ref r);
            r.Literal(" S="u8);
            var (seq, ts) = Stamp(ref r);
            command = new AgentCommand.GMsg(alias, integrity, seq, ts, Body(ref r, line, ref bodySize));
        }
        else if (r.Keyword(GFMsgKw))
        {
            var (author, integrity, seq, ts) = AuthoredMessage(ref r);
            command = new AgentCommand.GFMsg(author, integrity, seq, ts, Body(ref r, line, ref bodySize));
        }
        else if (r.Keyword(GHMsgKw))
        {
            var (author, integrity, seq, ts) = AuthoredMessage(ref r);
            command = new AgentCommand.GHMsg(author, integrity, seq, ts, Body(ref r, line, ref bodySize));
        }
        else if (r.Keyword(GLeftKw)) command = new AgentCommand.GLeft(Alias(ref r));
        else if (r.Keyword(GMDeletedKw)) command = new AgentCommand.GMDeleted(Alias(ref r));
        else if (r.Keyword(GRemovedKw)) command = new AgentCommand.GRemoved(Alias(ref r));
        else if (r.Keyword(GEmptyKw)) command = new AgentCommand.GEmpty();
        else if (r.Keyword(GDeletedKw)) command = new AgentCommand.GDeleted(Alias(ref r));
        else if (r.Keyword(GRejectedKw)) command = new AgentCommand.GRejected(Alias(ref r));
        else if (r.Keyword(GMFailedKw))
        {
            var alias = Alias(ref r);
            r.Sp();
            command = new AgentCommand.GMFailed(alias, AgentPlaintextCodec.ParseReason(r.Word()) ?? throw r.Fail());
        }
        else if (r.Keyword(GMemKw))
        {
            var alias = Alias(ref r);
            var member = Id(ref r);
            r.Sp();
            var status = ParseStatus(r.Word()) ?? throw r.Fail();
            command = new AgentCommand.GMem(alias, member, status, r.AtEnd ? ReadOnlyMemory<byte>.Empty : Body(ref r, line, ref bodySize));
        }
        else if (r.Keyword(GMInfoKw))
        {
            var alias = Alias(ref r);
            command = new AgentCommand.GMInfo(alias, Body(ref r, line, ref bodySize));
        }
        else throw r.Fail();
        r.End();
        return command;
    }

    private static GroupMemberStatus? ParseStatus(ReadOnlySpan<byte> token) =>
        Statuses.TryParse(token, out var status) ? status : null;

    private static void SizedBody(IBufferWriter<byte> w, ReadOnlyMemory<byte> body)
    {
        WireText.Sp(w);
        WireText.WriteSizedBody(w, body.Span);
    }

    private static void Alias(IBufferWriter<byte> w, string alias)
    {
        if (!AgentAlias.IsValid(alias)) throw new ArgumentException("invalid alias", nameof(alias));
        WireText.Sp(w);
        WireText.WriteAscii(w, alias);
    }

    /// <summary><c>SP author SP integrity SP "S=" authorSeq "," ts SP body</c> of GFMSG and GHMSG.</summary>
    private static void AuthoredMessage(IBufferWriter<byte> w, string author, MsgIntegrity integrity, long seq, DateTimeOffset ts, ReadOnlyMemory<byte> body)
    {
        if (!GroupAuthor.IsValid(System.Text.Encoding.ASCII.GetBytes(author)) || author.Any(c => c >= 0x80)) throw new ArgumentException("invalid author", nameof(author));
        WireText.Sp(w);
        WireText.WriteAscii(w, author);
        WireText.Sp(w);
        integrity.Write(w);
        w.Write(" S="u8);
        Stamp(w, seq, ts);
        SizedBody(w, body);
    }

    private static (string Author, MsgIntegrity Integrity, long Seq, DateTimeOffset Ts) AuthoredMessage(ref WireReader r)
    {
        r.Sp();
        var word = r.Word();
        if (!GroupAuthor.IsValid(word)) throw r.Fail();
        var author = WireText.Ascii(word);
        var integrity = Integrity(ref r);
        r.Literal(" S="u8);
        var (seq, ts) = Stamp(ref r);
        return (author, integrity, seq, ts);
    }

    private static void Id(IBufferWriter<byte> w, byte[] id)
    {
        if (id.Length is 0 or > WireReader.MaxIdBytes) throw new ArgumentException("ids are 1 to 64 bytes", nameof(id));
        WireText.Sp(w);
        B64.Write(w, id);
    }

    private static void Decimal(IBufferWriter<byte> w, long value)
    {
        if (value < 0) throw new ArgumentException("negative id", nameof(value));
        WireText.Sp(w);
        WireText.WriteDecimal(w, value);
    }

    private static void Stamp(IBufferWriter<byte> w, long id, DateTimeOffset ts)
    {
        if (id < 0) throw new ArgumentException("negative id", nameof(id));
        WireText.WriteDecimal(w, id);
        w.Write(","u8);
        WireText.WriteTimestamp(w, ts);
    }

    /// <summary><c>":" text</c> (sliced from the line) or a size that ends the line.</summary>
    private static ReadOnlyMemory<byte> Body(ref WireReader r, ReadOnlyMemory<byte> line, ref int? bodySize)
    {
        r.Sp();
        var start = r.Position;
        var spec = r.TakeRest();
        if (!spec.IsEmpty && spec[0] == (byte)':') return line[(start + 1)..];
        if (!WireReader.TryParseDecimal(spec, MaxSizeDigits, out var size)) throw new AgentProtocolException(AgentErrorCode.CmdSize);
        bodySize = (int)size;
        return ReadOnlyMemory<byte>.Empty;
    }

    /// <summary>
    /// GNEW's optional <c>SP "I=" b64</c> before its body. The line's own limit bounds it; whether it fits
    /// the agent's member-info limit is the agent's check (CMD LARGE), like a body's.
    /// </summary>
    private static ReadOnlyMemory<byte> MemberInfoField(ref WireReader r)
    {
        if (!r.Rest.StartsWith(" I="u8)) return ReadOnlyMemory<byte>.Empty;
        r.Skip(3);
        return B64.TryDecode(r.Word(), out var info) ? info : throw r.Fail();
    }

    private static string Alias(ref WireReader r)
    {
        r.Sp();
        var word = r.Word();
        return AgentAlias.IsValid(word) ? WireText.Ascii(word) : throw r.Fail();
    }

    private static byte[] Id(ref WireReader r)
    {
        r.Sp();
        return r.Id();
    }

    private static long Decimal(ref WireReader r)
    {
        r.Sp();
        return r.Decimal();
    }

    private static MsgIntegrity Integrity(ref WireReader r)
    {
        r.Sp();
        if (!MsgIntegrity.TryParse(r.Rest, out var integrity, out var n)) throw r.Fail();
        r.Skip(n);
        return integrity;
    }

    private static (long Id, DateTimeOffset Ts) Stamp(ref WireReader r)
    {
        var digits = r.Rest;
        var comma = digits.IndexOf((byte)',');
        if (comma < 0 || !WireReader.TryParseDecimal(digits[..comma], 18, out var id)) throw r.Fail();
        r.Skip(comma + 1);
        return (id, r.Timestamp());
    }

    /// <summary><c>b64 "," ts</c>: the server's message id and time.</summary>
    private static (byte[] Id, DateTimeOffset Ts) BrokerStamp(ref WireReader r)
    {
        var rest = r.Rest;
        var comma = rest.IndexOf((byte)',');
        if (comma <= 0 || comma > B64.EncodedLength(WireReader.MaxIdBytes) || !B64.TryDecode(rest[..comma], out var id)) throw r.Fail();
        r.Skip(comma + 1);
        return (id, r.Timestamp());
    }

    private static SmpServerAddress Server(ref WireReader r)
    {
        r.Sp();
        var word = r.Word();
        return word.Length <= SmpServerAddress.MaxLength && !word.ContainsAnyExceptInRange((byte)0x21, (byte)0x7e)
            && SmpServerAddress.TryParse(WireText.Ascii(word), out var server)
            ? server!
            : throw r.Fail();
    }
}
