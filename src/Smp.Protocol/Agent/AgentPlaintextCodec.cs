using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Smp.Protocol.Agent;

/// <summary>
/// Encoder and decoder of the agent message plaintext, the bytes inside the E2E layer before padding
/// (agent.md §2, groups.md §3):
/// <code>
/// plaintext    = confirmation / agentMessage
/// confirmation = "KEY" SP senderKey EOL EOL EOL
/// agentMessage = EOL header EOL envelope EOL
/// header       = sndMsgId SP timestamp SP prevMsgHash
/// prevMsgHash  = "" / b64(32 bytes)        ; empty leaves the header ending in SP
/// envelope     = "HELLO" SP verifyKey [SP "NO_ACK"]
///              / "REPLY" SP queueInfo
///              / "MSG" SP size EOL bytes EOL ; so a MSG plaintext ends in two EOLs (reference bytes)
///              / groupEnvelope
/// groupEnvelope = "G_INV" SP invId SP groupId SP memberId SP clvl SP queueInfo SP size EOL groupInfo
///              / "G_JOIN" SP invId SP memberId
///              / "G_MEM" SP introId SP memberId SP clvl
///              / "G_INV_MEM" SP introId SP groupQueueInfo SP directQueueInfo
///              / "G_MEM_INV" SP introId SP memberId SP clvl SP groupQueueInfo SP directQueueInfo
///              / "G_HELLO" SP memberId
///              / "G_CON" SP introId
///              / "G_ADD_ERR" SP introId SP reason
///              / "G_ALL"
///              / "G_MSG" SP groupMsgId SP authorSeq SP prevHash SP size EOL body
///              / "G_LEFT" / "G_MDEL" SP memberId / "G_MDELETED" SP memberId / "G_DEL"
///              / "G_REJECT" SP invId          ; on the direct connection: the invitation is declined
///              / "G_VIEW" *100(SP memberId ":" viewState) ; ours: the members the sender knows
///              / "G_INFO" SP size EOL info     ; ours: the sender's own member info (groups.md §6.12)
///              / "G_FWD" SP memberId SP timestamp SP size EOL gMsg   ; ours; gMsg: exactly size bytes
///              / "G_HIST" SP memberId SP timestamp SP size EOL gMsg  ; ours
///              / "G_RESEND" SP fromSeq         ; ours: send your own G_MSGs again from fromSeq (groups.md §6.6.1)
///              / "G_RESENT" SP fromSeq         ; ours: the answer to G_RESEND fromSeq is complete
///              / "G_HEAD" 1*100(SP memberId ":" lastSeq ":" prevHash) ; ours: each author's last message I have (groups.md §6.6.1)
/// viewState    = "C" / "P" / "L" / "R"     ; connected with the sender, pending, left, removed
/// gMsg         = "G_MSG" …                 ; one whole G_MSG envelope as above, nothing before or after it
/// prevHash     = "" / b64(32 bytes)        ; empty gives two SPs in a row
/// ; G_INV, G_MSG, G_INFO, G_FWD and G_HIST end with their bytes, unlike MSG: the agentMessage's EOL follows at once (groups.md §4)
/// invId, groupId, memberId, introId, groupMsgId = b64(1*64 random bytes)
/// sndMsgId, authorSeq, lastSeq = 1*18DIGIT ; in G_HEAD, prevHash is empty exactly when lastSeq is 0 ; fromSeq = 1*18DIGIT, not 0 ; clvl = 1*9DIGIT ; size = 1*9DIGIT, at most the bytes left
/// reason       = "JOIN_FAILED" / "TIMEOUT" / "DUPLICATE_MEMBER" / "MEMBER_GONE" / "INTERNAL" / token
/// timestamp    = yyyy-MM-ddTHH:mm:ss.fffZ  ; we write 3 truncated digits, read 0 to 7
/// senderKey, verifyKey = "rsa:" b64(DER SPKI) ; queueInfo as smp-wire.md §6
/// EOL          = LF / CRLF                 ; we write LF
/// </code>
/// The decoder takes the exact plaintext (its length comes from the E2E header) and must consume all of it.
/// </summary>
public static class AgentPlaintextCodec
{
    public const int HashSize = 32;

    private static ReadOnlySpan<byte> KeyKw => "KEY"u8;
    private static ReadOnlySpan<byte> HelloKw => "HELLO"u8;
    private static ReadOnlySpan<byte> NoAckKw => "NO_ACK"u8;
    private static ReadOnlySpan<byte> ReplyKw => "REPLY"u8;
    private static ReadOnlySpan<byte> MsgKw => "MSG"u8;
    private static ReadOnlySpan<byte> GInvKw => "G_INV"u8;
    private static ReadOnlySpan<byte> GJoinKw => "G_JOIN"u8;
    private static ReadOnlySpan<byte> GMemKw => "G_MEM"u8;
    private static ReadOnlySpan<byte> GInvMemKw => "G_INV_MEM"u8;
    private static ReadOnlySpan<byte> GMemInvKw => "G_MEM_INV"u8;
    private static ReadOnlySpan<byte> GHelloKw => "G_HELLO"u8;
    private static ReadOnlySpan<byte> GHeadKw => "G_HEAD"u8;
    private static ReadOnlySpan<byte> GConKw => "G_CON"u8;
    private static ReadOnlySpan<byte> GAddErrKw => "G_ADD_ERR"u8;
    private static ReadOnlySpan<byte> GAllKw => "G_ALL"u8;
    private static ReadOnlySpan<byte> GMsgKw => "G_MSG"u8;
    private static ReadOnlySpan<byte> GLeftKw => "G_LEFT"u8;
    private static ReadOnlySpan<byte> GMDelKw => "G_MDEL"u8;
    private static ReadOnlySpan<byte> GMDeletedKw => "G_MDELETED"u8;
    private static ReadOnlySpan<byte> GDelKw => "G_DEL"u8;
    private static ReadOnlySpan<byte> GRejectKw => "G_REJECT"u8;
    private static ReadOnlySpan<byte> GViewKw => "G_VIEW"u8;
    private static ReadOnlySpan<byte> GInfoKw => "G_INFO"u8;
    private static ReadOnlySpan<byte> GFwdKw => "G_FWD"u8;
    private static ReadOnlySpan<byte> GHistKw => "G_HIST"u8;
    private static ReadOnlySpan<byte> GResendKw => "G_RESEND"u8;
    private static ReadOnlySpan<byte> GResentKw => "G_RESENT"u8;

    private const int MaxSizeDigits = 9;
    private const int MaxLevelDigits = 9;

    private static readonly TokenTable<GroupAddErrorReason> Reasons = new(
        (GroupAddErrorReason.Unknown, "UNKNOWN"u8.ToArray()),
        (GroupAddErrorReason.JoinFailed, "JOIN_FAILED"u8.ToArray()),
        (GroupAddErrorReason.Timeout, "TIMEOUT"u8.ToArray()),
        (GroupAddErrorReason.DuplicateMember, "DUPLICATE_MEMBER"u8.ToArray()),
        (GroupAddErrorReason.MemberGone, "MEMBER_GONE"u8.ToArray()),
        (GroupAddErrorReason.Internal, "INTERNAL"u8.ToArray()));

    /// <summary>SHA-256 of a whole plaintext (before padding): the link of the integrity chain (agent.md §2).</summary>
    public static byte[] Hash(ReadOnlySpan<byte> plaintext) => SHA256.HashData(plaintext);

    public static byte[] Encode(AgentPlaintext plaintext)
    {
        var w = new ArrayBufferWriter<byte>(256);
        Write(w, plaintext);
        return w.WrittenSpan.ToArray();
    }

    public static void Write(IBufferWriter<byte> w, AgentPlaintext plaintext)
    {
        switch (plaintext)
        {
            case AgentPlaintext.Confirmation c:
                w.Write(KeyKw);
                WireText.Sp(w);
                Encodings.PublicKeyText.Write(w, c.SenderKey);
                w.Write("\n\n\n"u8);
                break;
            case AgentPlaintext.Message m:
                if (m.SndMsgId < 0) throw new ArgumentException("negative message id", nameof(plaintext));
                WireText.Lf(w);
                WireText.WriteDecimal(w, m.SndMsgId);
                WireText.Sp(w);
                WireText.WriteTimestamp(w, m.Timestamp);
                WireText.Sp(w);
                WriteHash(w, m.PrevMsgHash);
                WireText.Lf(w);
                WriteEnvelope(w, m.Envelope);
                WireText.Lf(w);
                break;
            default:
                throw new ArgumentException("unknown plaintext", nameof(plaintext));
        }
    }

    public static void WriteEnvelope(IBufferWriter<byte> w, AgentEnvelope envelope)
    {
        switch (envelope)
        {
            case AgentEnvelope.Hello e:
                w.Write(HelloKw); WireText.Sp(w); Encodings.PublicKeyText.Write(w, e.VerifyKey);
                if (e.NoAck) { WireText.Sp(w); w.Write(NoAckKw); }
                break;
            case AgentEnvelope.Reply e: w.Write(ReplyKw); WireText.Sp(w); WireText.WriteQueueInfo(w, e.QueueInfo); break;
            case AgentEnvelope.Msg e: w.Write(MsgKw); WireText.Sp(w); WireText.WriteSizedBody(w, e.Body.Span); WireText.Lf(w); break;
            case AgentEnvelope.GInv e:
                w.Write(GInvKw); Id(w, e.InvitationId); Id(w, e.GroupId); Id(w, e.MemberId); Level(w, e.ConnectionLevel);
                WireText.Sp(w); WireText.WriteQueueInfo(w, e.QueueInfo);
                WireText.Sp(w); WireText.WriteSizedBody(w, e.GroupInfo.Span);
                break;
            case AgentEnvelope.GJoin e: w.Write(GJoinKw); Id(w, e.InvitationId); Id(w, e.MemberId); break;
            case AgentEnvelope.GMem e: w.Write(GMemKw); Id(w, e.IntroductionId); Id(w, e.MemberId); Level(w, e.ConnectionLevel); break;
            case AgentEnvelope.GInvMem e:
                w.Write(GInvMemKw); Id(w, e.IntroductionId);
                WireText.Sp(w); WireText.WriteQueueInfo(w, e.GroupQueueInfo);
                WireText.Sp(w); WireText.WriteQueueInfo(w, e.DirectQueueInfo);
                break;
            case AgentEnvelope.GMemInv e:
                w.Write(GMemInvKw); Id(w, e.IntroductionId); Id(w, e.MemberId); Level(w, e.ConnectionLevel);
                WireText.Sp(w); WireText.WriteQueueInfo(w, e.GroupQueueInfo);
                WireText.Sp(w); WireText.WriteQueueInfo(w, e.DirectQueueInfo);
                break;
            case AgentEnvelope.GHello e: w.Write(GHelloKw); Id(w, e.MemberId); break;
            case AgentEnvelope.GCon e: w.Write(GConKw); Id(w, e.IntroductionId); break;
            case AgentEnvelope.GAddErr e: w.Write(GAddErrKw); Id(w, e.IntroductionId); WireText.Sp(w); w.Write(ReasonToken(e.Reason)); break;
            case AgentEnvelope.GAll: w.Write(GAllKw); break;
            case AgentEnvelope.GMsg e:
                w.Write(GMsgKw); Id(w, e.GroupMsgId);
                WireText.Sp(w); WireText.WriteDecimal(w, e.AuthorSeq >= 0 ? e.AuthorSeq : throw new ArgumentException("negative sequence", nameof(envelope)));
                WireText.Sp(w); WriteHash(w, e.PrevHash);
                WireText.Sp(w); WireText.WriteSizedBody(w, e.Body.Span);
                break;
            case AgentEnvelope.GLeft: w.Write(GLeftKw); break;
            case AgentEnvelope.GMDel e: w.Write(GMDelKw); Id(w, e.MemberId); break;
            case AgentEnvelope.GMDeleted e: w.Write(GMDeletedKw); Id(w, e.MemberId); break;
            case AgentEnvelope.GDel: w.Write(GDelKw); break;
            case AgentEnvelope.GReject e: w.Write(GRejectKw); Id(w, e.InvitationId); break;
            case AgentEnvelope.GView e:
                if (e.Entries.Count > AgentEnvelope.MaxViewEntries) throw new ArgumentException("too many view entries", nameof(envelope));
                w.Write(GViewKw);
                foreach (var entry in e.Entries)
                {
                    Id(w, entry.MemberId);
                    w.Write(":"u8);
                    w.Write(ViewStateToken(entry.State));
                }
                break;
            case AgentEnvelope.GInfo e: w.Write(GInfoKw); WireText.Sp(w); WireText.WriteSizedBody(w, e.Info.Span); break;
            case AgentEnvelope.GFwd e: w.Write(GFwdKw); Wrapped(w, e.AuthorMemberId, e.AuthorTs, e.Message); break;
            case AgentEnvelope.GHist e: w.Write(GHistKw); Wrapped(w, e.AuthorMemberId, e.AuthorTs, e.Message); break;
            case AgentEnvelope.GResend e: w.Write(GResendKw); FromSeq(w, e.FromSeq); break;
            case AgentEnvelope.GResent e: w.Write(GResentKw); FromSeq(w, e.FromSeq); break;
            case AgentEnvelope.GHead e:
                if (e.Heads.Count is 0 or > AgentEnvelope.MaxHeadEntries) throw new ArgumentException("a G_HEAD has 1 to 100 entries", nameof(envelope));
                w.Write(GHeadKw);
                foreach (var h in e.Heads)
                {
                    if (h.LastSeq < 0 || (h.LastSeq == 0) != (h.LastHash.Length == 0))
                        throw new ArgumentException("a chain head is 0 with no hash, or a sequence with its hash", nameof(envelope));
                    Id(w, h.MemberId);
                    w.Write(":"u8);
                    WireText.WriteDecimal(w, h.LastSeq);
                    w.Write(":"u8);
                    WriteHash(w, h.LastHash);
                }
                break;
            default: throw new ArgumentException("unknown envelope", nameof(envelope));
        }
    }

    /// <summary>Decodes a plaintext; bodies in the result are slices of <paramref name="plaintext"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> plaintext, [NotNullWhen(true)] out AgentPlaintext? result)
    {
        try
        {
            result = Decode(plaintext);
            return true;
        }
        catch (AgentProtocolException)
        {
            result = null;
            return false;
        }
    }

    /// <summary>Decodes a plaintext or throws <see cref="AgentProtocolException"/> with A_MESSAGE.</summary>
    public static AgentPlaintext Decode(ReadOnlyMemory<byte> plaintext)
    {
        var r = new WireReader(plaintext.Span, AgentErrorCode.AgentMessage);
        if (r.Keyword(KeyKw))
        {
            r.Sp();
            var key = r.PublicKey();
            r.Eol(); r.Eol(); r.Eol(); r.End();
            return new AgentPlaintext.Confirmation(key);
        }
        r.Eol();
        var id = r.Decimal();
        r.Sp();
        var ts = r.Timestamp();
        r.Sp();
        var hash = r.OptionalHash();
        r.Eol();
        var envelope = ReadEnvelope(ref r, plaintext);
        r.Eol();
        r.End();
        return new AgentPlaintext.Message(id, ts, hash, envelope);
    }

    private static AgentEnvelope ReadEnvelope(ref WireReader r, ReadOnlyMemory<byte> source)
    {
        if (r.Keyword(HelloKw))
        {
            r.Sp();
            var key = r.PublicKey();
            var noAck = false;
            if (r.TrySp())
            {
                if (!r.Keyword(NoAckKw)) throw r.Fail();
                noAck = true;
            }
            return new AgentEnvelope.Hello(key, noAck);
        }
        if (r.Keyword(ReplyKw)) { r.Sp(); return new AgentEnvelope.Reply(r.QueueInfo()); }
        if (r.Keyword(MsgKw))
        {
            r.Sp();
            var body = SizedBody(ref r, source);
            r.Eol();
            return new AgentEnvelope.Msg(body);
        }
        if (r.Keyword(GInvKw))
        {
            var inv = Id(ref r);
            var group = Id(ref r);
            var member = Id(ref r);
            var level = Level(ref r);
            r.Sp();
            var queue = r.QueueInfo();
            r.Sp();
            return new AgentEnvelope.GInv(inv, group, member, level, queue, SizedBody(ref r, source));
        }
        if (r.Keyword(GJoinKw)) return new AgentEnvelope.GJoin(Id(ref r), Id(ref r));
        if (r.Keyword(GMemKw)) return new AgentEnvelope.GMem(Id(ref r), Id(ref r), Level(ref r));
        if (r.Keyword(GInvMemKw))
        {
            var intro = Id(ref r);
            r.Sp();
            var groupQueue = r.QueueInfo();
            r.Sp();
            return new AgentEnvelope.GInvMem(intro, groupQueue, r.QueueInfo());
        }
        if (r.Keyword(GMemInvKw))
        {
            var intro = Id(ref r);
            var member = Id(ref r);
            var level = Level(ref r);
            r.Sp();
            var groupQueue = r.QueueInfo();
            r.Sp();
            return new AgentEnvelope.GMemInv(intro, member, level, groupQueue, r.QueueInfo());
        }
        if (r.Keyword(GHelloKw)) return new AgentEnvelope.GHello(Id(ref r));
        if (r.Keyword(GConKw)) return new AgentEnvelope.GCon(Id(ref r));
        if (r.Keyword(GAddErrKw))
        {
            var intro = Id(ref r);
            r.Sp();
            return new AgentEnvelope.GAddErr(intro, ParseReason(r.Word()) ?? throw r.Fail());
        }
        if (r.Keyword(GAllKw)) return new AgentEnvelope.GAll();
        if (r.Keyword(GMsgKw)) return ReadGroupMessage(ref r, source);
        if (r.Keyword(GLeftKw)) return new AgentEnvelope.GLeft();
        if (r.Keyword(GMDelKw)) return new AgentEnvelope.GMDel(Id(ref r));
        if (r.Keyword(GMDeletedKw)) return new AgentEnvelope.GMDeleted(Id(ref r));
        if (r.Keyword(GDelKw)) return new AgentEnvelope.GDel();
        if (r.Keyword(GRejectKw)) return new AgentEnvelope.GReject(Id(ref r));
        if (r.Keyword(GViewKw)) return ReadView(ref r);
        if (r.Keyword(GInfoKw)) { r.Sp(); return new AgentEnvelope.GInfo(SizedBody(ref r, source)); }
        if (r.Keyword(GFwdKw))
        {
            var (author, ts, inner) = Wrapped(ref r, source);
            return new AgentEnvelope.GFwd(author, ts, inner);
        }
        if (r.Keyword(GHistKw))
        {
            var (author, ts, inner) = Wrapped(ref r, source);
            return new AgentEnvelope.GHist(author, ts, inner);
        }
        if (r.Keyword(GResendKw)) return new AgentEnvelope.GResend(FromSeq(ref r));
        if (r.Keyword(GResentKw)) return new AgentEnvelope.GResent(FromSeq(ref r));
        if (r.Keyword(GHeadKw)) return ReadHeads(ref r);
        throw r.Fail();
    }

    /// <summary>
    /// <c>SP memberId SP timestamp SP size EOL gMsg</c> of G_FWD and G_HIST: the G_MSG text is written
    /// exactly as its author's agent writes it, so its hash (groups.md §6.6) is the same at every receiver.
    /// </summary>
    private static void Wrapped(IBufferWriter<byte> w, byte[] author, DateTimeOffset ts, AgentEnvelope.GMsg message)
    {
        Id(w, author);
        WireText.Sp(w);
        WireText.WriteTimestamp(w, ts);
        var inner = new ArrayBufferWriter<byte>(256);
        WriteEnvelope(inner, message);
        WireText.Sp(w);
        WireText.WriteSizedBody(w, inner.WrittenSpan);
    }

    /// <summary>
    /// Reads a wrapped G_MSG: its size is checked against the bytes left before they are taken, and those
    /// bytes must be one G_MSG envelope and nothing else (another envelope kind inside is malformed).
    /// </summary>
    private static (byte[] Author, DateTimeOffset Ts, AgentEnvelope.GMsg Message) Wrapped(ref WireReader r, ReadOnlyMemory<byte> source)
    {
        var author = Id(ref r);
        r.Sp();
        var ts = r.Timestamp();
        r.Sp();
        var text = SizedBody(ref r, source);
        var inner = new WireReader(text.Span, AgentErrorCode.AgentMessage);
        if (!inner.Keyword(GMsgKw)) throw r.Fail();
        var message = ReadGroupMessage(ref inner, text);
        inner.End();
        return (author, ts, message);
    }

    /// <summary>The rest of a G_MSG after its keyword.</summary>
    private static AgentEnvelope.GMsg ReadGroupMessage(ref WireReader r, ReadOnlyMemory<byte> source)
    {
        var msgId = Id(ref r);
        r.Sp();
        var seq = r.Decimal();
        r.Sp();
        var prev = r.OptionalHash();
        r.Sp();
        return new AgentEnvelope.GMsg(msgId, seq, prev, SizedBody(ref r, source));
    }

    /// <summary><c>SP fromSeq</c> of G_RESEND and G_RESENT: an author sequence number, 1 or more.</summary>
    private static void FromSeq(IBufferWriter<byte> w, long seq)
    {
        WireText.Sp(w);
        WireText.WriteDecimal(w, seq >= 1 ? seq : throw new ArgumentException("a resend starts at sequence 1 or later", nameof(seq)));
    }

    private static long FromSeq(ref WireReader r)
    {
        r.Sp();
        var seq = r.Decimal();
        return seq >= 1 ? seq : throw r.Fail();
    }

    /// <summary>G_VIEW entries, counted before each is taken so a long list fails at entry 101.</summary>
    private static AgentEnvelope.GView ReadView(ref WireReader r)
    {
        var entries = new List<MemberViewEntry>();
        while (r.TrySp())
        {
            if (entries.Count == AgentEnvelope.MaxViewEntries) throw r.Fail();
            var word = r.Word();
            var colon = word.LastIndexOf((byte)':');
            if (colon < 0 || colon != word.Length - 2) throw r.Fail();
            var state = word[^1] switch
            {
                (byte)'C' => MemberViewState.Connected,
                (byte)'P' => MemberViewState.Pending,
                (byte)'L' => MemberViewState.Left,
                (byte)'R' => MemberViewState.Removed,
                _ => throw r.Fail(),
            };
            entries.Add(new MemberViewEntry(EntryId(ref r, word[..colon]), state));
        }
        return new AgentEnvelope.GView(entries);
    }

    /// <summary>The member id that starts a G_VIEW or G_HEAD entry: b64 of 1 to 64 bytes.</summary>
    private static byte[] EntryId(ref WireReader r, ReadOnlySpan<byte> id) =>
        id.Length <= Encodings.B64.EncodedLength(WireReader.MaxIdBytes) && Encodings.B64.TryDecode(id, out var memberId) && memberId.Length > 0
            ? memberId : throw r.Fail();

    /// <summary>G_HEAD entries <c>memberId ":" lastSeq ":" prevHash</c>, counted before each is taken.</summary>
    private static AgentEnvelope.GHead ReadHeads(ref WireReader r)
    {
        var heads = new List<ChainHeadEntry>();
        while (r.TrySp())
        {
            if (heads.Count == AgentEnvelope.MaxHeadEntries) throw r.Fail();
            var word = r.Word();
            var first = word.IndexOf((byte)':');
            var last = word.LastIndexOf((byte)':');
            if (first <= 0 || last == first) throw r.Fail();
            var memberId = EntryId(ref r, word[..first]);
            var seqText = word[(first + 1)..last];
            var hashText = word[(last + 1)..];
            if (!WireReader.TryParseDecimal(seqText, 18, out var seq)) throw r.Fail();
            byte[] hash = [];
            if (hashText.Length > 0 && (!Encodings.B64.TryDecode(hashText, out hash) || hash.Length != HashSize)) throw r.Fail();
            if ((seq == 0) != (hash.Length == 0)) throw r.Fail();
            heads.Add(new ChainHeadEntry(memberId, seq, hash));
        }
        if (heads.Count == 0) throw r.Fail();
        return new AgentEnvelope.GHead(heads);
    }

    private static ReadOnlySpan<byte> ViewStateToken(MemberViewState state) => state switch
    {
        MemberViewState.Connected => "C"u8,
        MemberViewState.Pending => "P"u8,
        MemberViewState.Left => "L"u8,
        MemberViewState.Removed => "R"u8,
        _ => throw new ArgumentException("unknown view state", nameof(state)),
    };

    public static ReadOnlySpan<byte> ReasonToken(GroupAddErrorReason reason) => Reasons.Token(reason);

    /// <summary>Known tokens map to their reason, other well-formed tokens to Unknown, anything else to null.</summary>
    public static GroupAddErrorReason? ParseReason(ReadOnlySpan<byte> token)
    {
        if (!AgentErrors.IsToken(token)) return null;
        return Reasons.TryParse(token, out var reason) ? reason : GroupAddErrorReason.Unknown;
    }

    private static void WriteHash(IBufferWriter<byte> w, byte[] hash)
    {
        if (hash.Length == 0) return;
        if (hash.Length != HashSize) throw new ArgumentException("a chain hash is 32 bytes or empty", nameof(hash));
        Encodings.B64.Write(w, hash);
    }

    private static void Id(IBufferWriter<byte> w, byte[] id)
    {
        if (id.Length is 0 or > WireReader.MaxIdBytes) throw new ArgumentException("ids are 1 to 64 bytes", nameof(id));
        WireText.Sp(w);
        Encodings.B64.Write(w, id);
    }

    private static void Level(IBufferWriter<byte> w, int level)
    {
        if (level < 0) throw new ArgumentException("negative connection level", nameof(level));
        WireText.Sp(w);
        WireText.WriteDecimal(w, level);
    }

    private static byte[] Id(ref WireReader r)
    {
        r.Sp();
        return r.Id();
    }

    private static int Level(ref WireReader r)
    {
        r.Sp();
        return (int)r.Decimal(MaxLevelDigits);
    }

    /// <summary><c>size EOL bytes</c>, the size checked against what is left before the bytes are taken.</summary>
    private static ReadOnlyMemory<byte> SizedBody(ref WireReader r, ReadOnlyMemory<byte> source)
    {
        var size = r.Decimal(MaxSizeDigits);
        r.Eol();
        return r.Bytes(size, source);
    }
}
