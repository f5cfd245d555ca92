using System.Text;
using Smp.Protocol.Agent;

namespace Smp.Protocol.Tests.Agent;

public class AgentPlaintextCodecTests
{
    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    public static TheoryData<int> VectorIndexes => [0, 1, 2, 3];

    [Theory]
    [MemberData(nameof(VectorIndexes))]
    public void Reference_plaintexts_decode_to_typed_values_and_re_encode_to_the_same_bytes(int index)
    {
        using var doc = VectorFiles.Load("agent-envelopes.json");
        var m = doc.RootElement.GetProperty("messages")[index];
        var plaintext = Convert.FromBase64String(m.GetProperty("plaintext_b64").GetString()!);

        var decoded = AgentPlaintextCodec.Decode(plaintext);

        switch (m.GetProperty("kind").GetString())
        {
            case "confirmation":
                Assert.IsType<AgentPlaintext.Confirmation>(decoded);
                break;
            case "hello":
                var hello = Assert.IsType<AgentPlaintext.Message>(decoded);
                Assert.Equal(0, hello.SndMsgId);
                Assert.Empty(hello.PrevMsgHash);
                Assert.False(Assert.IsType<AgentEnvelope.Hello>(hello.Envelope).NoAck);
                Assert.Equal(AgentSamples.Ts, hello.Timestamp);
                break;
            case "reply":
                var reply = Assert.IsType<AgentPlaintext.Message>(decoded);
                Assert.Equal("localhost", Assert.IsType<AgentEnvelope.Reply>(reply.Envelope).QueueInfo.Server.Host);
                break;
            case "message":
                var msg = Assert.IsType<AgentPlaintext.Message>(decoded);
                Assert.Equal(1, msg.SndMsgId);
                Assert.Equal("hello from the reference"u8.ToArray(), Assert.IsType<AgentEnvelope.Msg>(msg.Envelope).Body.ToArray());
                break;
            default:
                Assert.Fail("unknown vector kind");
                break;
        }
        Assert.Equal(plaintext, AgentPlaintextCodec.Encode(decoded));
    }

    public static TheoryData<int> EnvelopeIndexes => new(Enumerable.Range(0, AgentSamples.AllEnvelopes().Count()));

    [Theory]
    [MemberData(nameof(EnvelopeIndexes))]
    public void Every_envelope_round_trips_in_a_chained_and_an_unchained_message(int index)
    {
        var envelope = AgentSamples.AllEnvelopes().ElementAt(index);
        AgentPlaintext[] messages =
        [
            AgentPlaintext.Message.Unchained(AgentSamples.Ts, envelope),
            new AgentPlaintext.Message(7, AgentSamples.Ts, AgentSamples.HashOf("x"), envelope),
        ];
        foreach (var message in messages)
        {
            var bytes = AgentPlaintextCodec.Encode(message);
            var decoded = AgentPlaintextCodec.Decode(bytes);
            Assert.Equal(bytes, AgentPlaintextCodec.Encode(decoded));
            Assert.Equal(envelope.Kind, Assert.IsType<AgentPlaintext.Message>(decoded).Envelope.Kind);
        }
    }

    [Fact]
    public void Envelopes_serialise_as_the_grammar_says()
    {
        var id = AgentSamples.Bytes(12, 1);
        var idText = Convert.ToBase64String(id);
        var h = AgentSamples.HashOf("x");
        Assert.Equal($"\n0 2026-11-24T05:55:52.472Z \nG_MSG {idText} 1  2\nhi\n",
            Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GMsg(id, 1, [], "hi"u8.ToArray()))));
        Assert.Equal($"\n3 2026-11-24T05:55:52.472Z {Convert.ToBase64String(h)}\nG_ADD_ERR {idText} TIMEOUT\n",
            Text(new AgentPlaintext.Message(3, AgentSamples.Ts, h, new AgentEnvelope.GAddErr(id, GroupAddErrorReason.Timeout))));
        Assert.Equal("\n0 2026-11-24T05:55:52.472Z \nG_ALL\n",
            Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GAll())));
        Assert.Equal($"\n4 2026-11-24T05:55:52.472Z {Convert.ToBase64String(h)}\nG_INFO 5\nAlice\n",
            Text(new AgentPlaintext.Message(4, AgentSamples.Ts, h, new AgentEnvelope.GInfo("Alice"u8.ToArray()))));
        Assert.Equal("\n0 2026-11-24T05:55:52.472Z \nG_INFO 0\n\n",
            Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GInfo(Array.Empty<byte>()))));
        Assert.Equal($"\n0 2026-11-24T05:55:52.472Z \nG_INV {idText} {idText} {idText} 3 {AgentSamples.Queue} 4\ninfo\n",
            Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GInv(id, id, id, 3, AgentSamples.Queue, "info"u8.ToArray()))));
    }

    [Fact]
    public void Forwarded_and_history_messages_carry_the_g_msg_text_intact()
    {
        // groups.md §4: G_FWD / G_HIST SP memberId SP ts SP size EOL <G_MSG envelope>; then the message's EOL.
        var id = AgentSamples.Bytes(12, 1);
        var author = AgentSamples.Bytes(16, 3);
        var inner = $"G_MSG {Convert.ToBase64String(id)} 1  2\nhi";
        var message = new AgentEnvelope.GMsg(id, 1, [], "hi"u8.ToArray());
        var fwd = $"\n0 2026-11-24T05:55:52.472Z \nG_FWD {Convert.ToBase64String(author)} 2026-11-24T05:55:52.472Z {inner.Length}\n{inner}\n";
        Assert.Equal(fwd, Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GFwd(author, AgentSamples.Ts, message))));
        Assert.Equal(fwd.Replace("G_FWD", "G_HIST"),
            Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GHist(author, AgentSamples.Ts, message))));

        var decoded = Assert.IsType<AgentEnvelope.GFwd>(((AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii(fwd))).Envelope);
        Assert.Equal(author, decoded.AuthorMemberId);
        Assert.Equal(AgentSamples.Ts, decoded.AuthorTs);
        Assert.Equal(id, decoded.Message.GroupMsgId);
        Assert.Equal((1L, "hi"), (decoded.Message.AuthorSeq, Encoding.ASCII.GetString(decoded.Message.Body.Span)));
        var hist = Assert.IsType<AgentEnvelope.GHist>(((AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii(fwd.Replace("G_FWD", "G_HIST")))).Envelope);
        Assert.Equal(decoded.Message.GroupMsgId, hist.Message.GroupMsgId);
    }

    [Fact]
    public void Crlf_line_ends_are_accepted_on_input()
    {
        var decoded = AgentPlaintextCodec.Decode(Ascii("\r\n1 2026-11-24T05:55:53.260Z \r\nMSG 5\r\nhello\r\n\r\n"));
        var msg = Assert.IsType<AgentPlaintext.Message>(decoded);
        Assert.Equal("hello"u8.ToArray(), Assert.IsType<AgentEnvelope.Msg>(msg.Envelope).Body.ToArray());
        Assert.IsType<AgentPlaintext.Confirmation>(AgentPlaintextCodec.Decode(Ascii($"KEY rsa:{Convert.ToBase64String(AgentSamples.Key)}\r\n\n\r\n")));
    }

    [Fact]
    public void Unknown_add_error_reasons_from_newer_peers_are_read_as_unknown()
    {
        var id = Convert.ToBase64String(AgentSamples.Bytes(12, 1));
        var decoded = (AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii($"\n0 2026-11-24T05:55:52.472Z \nG_ADD_ERR {id} SOMETHING_NEW\n"));
        Assert.Equal(GroupAddErrorReason.Unknown, Assert.IsType<AgentEnvelope.GAddErr>(decoded.Envelope).Reason);
    }

    [Fact]
    public void A_view_is_written_as_id_colon_state_entries_and_read_back()
    {
        var a = AgentSamples.Bytes(16, 1);
        var b = AgentSamples.Bytes(16, 2);
        var (ta, tb) = (Convert.ToBase64String(a), Convert.ToBase64String(b));
        var view = new AgentEnvelope.GView([new(a, MemberViewState.Connected), new(b, MemberViewState.Removed)]);
        var text = $"\n0 2026-11-24T05:55:52.472Z \nG_VIEW {ta}:C {tb}:R\n";
        Assert.Equal(text, Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, view)));
        var decoded = Assert.IsType<AgentEnvelope.GView>(Assert.IsType<AgentPlaintext.Message>(AgentPlaintextCodec.Decode(Ascii(text))).Envelope);
        Assert.Equal([(ta, MemberViewState.Connected), (tb, MemberViewState.Removed)],
            decoded.Entries.Select(e => (Convert.ToBase64String(e.MemberId), e.State)));
        Assert.Equal("\n0 2026-11-24T05:55:52.472Z \nG_VIEW\n", Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GView([]))));
        Assert.Empty(Assert.IsType<AgentEnvelope.GView>(((AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii("\n0 2026-11-24T05:55:52.472Z \nG_VIEW\r\n"))).Envelope).Entries);
    }

    [Fact]
    public void A_view_of_more_than_100_members_is_refused_when_read_and_when_written()
    {
        var entries = Enumerable.Range(0, AgentEnvelope.MaxViewEntries + 1).Select(i => new MemberViewEntry(AgentSamples.Bytes(16, (byte)i), MemberViewState.Pending)).ToList();
        Assert.Throws<ArgumentException>(() => AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GView(entries))));
        var full = AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GView(entries[..AgentEnvelope.MaxViewEntries])));
        Assert.True(full.Length < 3000, $"a full view is {full.Length} bytes");
        var text = Encoding.ASCII.GetString(full).TrimEnd('\n') + " " + Convert.ToBase64String(entries[^1].MemberId) + ":P\n";
        Assert.False(AgentPlaintextCodec.TryDecode(Ascii(text), out _));
    }

    [Fact]
    public void The_chain_hash_is_sha256_of_the_whole_plaintext()
    {
        var plaintext = Ascii("\n1 2026-11-24T05:55:53.260Z \nMSG 24\nhello from the reference\n\n");
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(plaintext), AgentPlaintextCodec.Hash(plaintext));
        Assert.Equal(32, AgentPlaintextCodec.HashSize);
    }

    public static TheoryData<string> Malformed => new(
        "",
        "\n",
        "KEY rsa:AAAA\n\n",
        "KEY rsa:!!!!\n\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nMSG 25\nhello from the reference\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nMSG 23\nhello from the reference\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nMSG 999999999\nhello\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nMSG 99999999999999999999\nhello\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nMSG -1\nhello\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nMSG 5\nhel",
        "\n1 2026-11-24T05:55:53.260Z \nMSG 5\nhello",
        "\n1 2026-11-24T05:55:53.260Z \nMSG 5\nhello\n\nextra",
        "\n1 2026-11-24T05:55:53.260Z \nWHAT 5\nhello\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_ALLX\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_ALL extra\n",
        "\n1 2026-11-24T05:55:53.260Z\nG_ALL\n",
        "\n1 2026-11-24 05:55:53.260Z \nG_ALL\n",
        "\nx 2026-11-24T05:55:53.260Z \nG_ALL\n",
        "\n1 2026-11-24T05:55:53.260Z AAAA\nG_ALL\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HELLO\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HELLO \n",
        "\n1 2026-11-24T05:55:53.260Z \nG_MEM AAAA AAAA -1\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_ADD_ERR AAAA bad reason\n",
        "\n1 2026-11-24T05:55:53.260Z \nREPLY smp::nohost\n",
        "\n1 2026-11-24T05:55:53.260Z \nHELLO rsa:AAAA ACK\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_MSG AAAA 1 2\nhi\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_VIEW AAAA\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_VIEW AAAA:X\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_VIEW AAAA:CC\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_VIEW :C\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_VIEW A!AA:C\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_VIEW AAAA:C \n",
        "\n1 2026-11-24T05:55:53.260Z \nG_VIEWAAAA:C\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_INFO\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_INFO 6\nAlice\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_INFO 4\nAlice\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_INFO 5 Alice\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_INFO -5\nAlice\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_INFO 9999999999\nAlice\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_INFOX 5\nAlice\n",
        // G_FWD / G_HIST: the inner text must be exactly one G_MSG, its size within what is left.
        "\n1 2026-11-24T05:55:53.260Z \nG_FWD AAAA 2026-11-24T05:55:53.260Z 15\nG_MSG AAAA 1  2\nhi\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_FWD AAAA 2026-11-24T05:55:53.260Z 17\nG_MSG AAAA 1  2\nhi\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_FWD AAAA 2026-11-24T05:55:53.260Z 18\nG_MSG AAAA 1  2\nhix\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_FWD AAAA 2026-11-24T05:55:53.260Z 999999999\nG_MSG AAAA 1  2\nhi\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_FWD AAAA 2026-11-24T05:55:53.260Z 5\nG_ALL\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HIST AAAA 2026-11-24T05:55:53.260Z 34\nG_FWD AAAA 2026-11-24T05:55:53.260Z 0\n\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HIST AAAA 2026-11-24 05:55:53.260Z 16\nG_MSG AAAA 1  2\nhi\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HIST  2026-11-24T05:55:53.260Z 16\nG_MSG AAAA 1  2\nhi\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HIST AAAA 2026-11-24T05:55:53.260Z 16\nG_MSG AAAA 1  2\nhi",
        // G_RESEND: one sequence number, 1 or more, up to 18 digits.
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND \n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND 0\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND -3\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND 3 4\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND 1234567890123456789\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND x\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESEND3\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESENT\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESENT 0\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESENT 2 \n",
        "\n1 2026-11-24T05:55:53.260Z \nG_RESENTS 2\n",
        // G_HEAD: 1 to 100 entries memberId:lastSeq:prevHash, the hash empty exactly when the number is 0.
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD \n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:0\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD :0:\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA::\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:3:\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:0:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:3:AAECAw==\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:-3:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:1234567890123456789:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:0::\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:0: \n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD AAAA:0:  AAAA:0:\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD A!AA:0:\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEADS AAAA:0:\n",
        "\n1 2026-11-24T05:55:53.260Z \nG_HEAD" + string.Concat(Enumerable.Repeat(" AAAA:0:", 101)) + "\n");

    [Fact]
    public void G_head_is_written_as_entries_of_id_last_sequence_and_hash_and_its_kind_is_32()
    {
        var author = AgentSamples.Bytes(16, 3);
        var other = AgentSamples.Bytes(16, 4);
        var h = AgentSamples.Bytes(32, 0);
        var text = $"\n0 2026-11-24T05:55:52.472Z \nG_HEAD {Convert.ToBase64String(author)}:5:{Convert.ToBase64String(h)} {Convert.ToBase64String(other)}:0:\n";
        Assert.Equal(text, Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GHead([new(author, 5, h), new(other, 0, [])]))));
        var heads = Assert.IsType<AgentEnvelope.GHead>(((AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii(text))).Envelope).Heads;
        Assert.Equal(2, heads.Count);
        Assert.Equal(author, heads[0].MemberId);
        Assert.Equal(5, heads[0].LastSeq);
        Assert.Equal(h, heads[0].LastHash);
        // None yet: 0 and an empty hash.
        Assert.Equal(other, heads[1].MemberId);
        Assert.Equal(0, heads[1].LastSeq);
        Assert.Empty(heads[1].LastHash);
        Assert.Equal(100, ((AgentEnvelope.GHead)((AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii(
            "\n0 2026-11-24T05:55:52.472Z \nG_HEAD" + string.Concat(Enumerable.Repeat(" AAAA:0:", 100)) + "\n"))).Envelope).Heads.Count);
        Assert.Equal(32, (int)AgentEnvelopeKind.GHead);
        Assert.True(new AgentEnvelope.GHead([new(author, 0, [])]).IsGroupEnvelope);
        foreach (var bad in new AgentEnvelope.GHead[] { new([new(author, 3, [])]), new([new(author, 0, h)]), new([]), new(Enumerable.Repeat(new ChainHeadEntry(author, 0, []), 101).ToList()) })
            Assert.Throws<ArgumentException>(() => AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(AgentSamples.Ts, bad)));
    }

    [Fact]
    public void G_resend_and_g_resent_are_written_as_their_first_sequence_number_and_their_kinds_are_30_and_31()
    {
        var h = AgentSamples.Bytes(32, 9);
        var text = $"\n7 2026-11-24T05:55:52.472Z {Convert.ToBase64String(h)}\nG_RESEND 42\n";
        Assert.Equal(text, Text(new AgentPlaintext.Message(7, AgentSamples.Ts, h, new AgentEnvelope.GResend(42))));
        var decoded = (AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii(text));
        Assert.Equal(42, Assert.IsType<AgentEnvelope.GResend>(decoded.Envelope).FromSeq);
        Assert.Equal(999_999_999_999_999_999, Assert.IsType<AgentEnvelope.GResend>(((AgentPlaintext.Message)AgentPlaintextCodec.Decode(
            Ascii("\n0 2026-11-24T05:55:52.472Z \nG_RESEND 999999999999999999\r\n"))).Envelope).FromSeq);
        Assert.Equal(30, (int)AgentEnvelopeKind.GResend);
        Assert.True(decoded.Envelope.IsGroupEnvelope);
        Assert.Throws<ArgumentException>(() => AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GResend(0))));

        const string resent = "\n0 2026-11-24T05:55:52.472Z \nG_RESENT 3\n";
        Assert.Equal(resent, Text(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GResent(3))));
        Assert.Equal(3, Assert.IsType<AgentEnvelope.GResent>(((AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii(resent))).Envelope).FromSeq);
        Assert.Equal(31, (int)AgentEnvelopeKind.GResent);
        Assert.Throws<ArgumentException>(() => AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(AgentSamples.Ts, new AgentEnvelope.GResent(-1))));
    }

    [Fact]
    public void G_info_decodes_to_the_senders_bytes_and_its_kind_is_26()
    {
        var decoded = (AgentPlaintext.Message)AgentPlaintextCodec.Decode(Ascii("\n2 2026-11-24T05:55:53.260Z \nG_INFO 7\nA\nli ce\n"));
        Assert.Equal("A\nli ce"u8.ToArray(), Assert.IsType<AgentEnvelope.GInfo>(decoded.Envelope).Info.ToArray());
        Assert.Equal(2, decoded.SndMsgId);
        Assert.Equal(26, (int)AgentEnvelopeKind.GInfo);
        Assert.True(decoded.Envelope.IsGroupEnvelope);
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_plaintexts_give_A_MESSAGE_and_nothing_else(string text)
    {
        var bytes = Ascii(text);
        Assert.False(AgentPlaintextCodec.TryDecode(bytes, out _));
        var e = Assert.Throws<AgentProtocolException>(() => AgentPlaintextCodec.Decode(bytes));
        Assert.Equal(AgentErrorCode.AgentMessage, e.Error.Code);
    }

    [Fact]
    public void Every_truncation_of_every_envelope_is_refused()
    {
        foreach (var envelope in AgentSamples.AllEnvelopes())
        {
            var bytes = AgentPlaintextCodec.Encode(new AgentPlaintext.Message(5, AgentSamples.Ts, AgentSamples.HashOf("p"), envelope));
            for (var n = 0; n < bytes.Length; n++)
                Assert.False(AgentPlaintextCodec.TryDecode(bytes.AsMemory(0, n), out _), $"{envelope.Kind} cut at {n}");
        }
    }

    private static string Text(AgentPlaintext p) => Encoding.ASCII.GetString(AgentPlaintextCodec.Encode(p));
}
