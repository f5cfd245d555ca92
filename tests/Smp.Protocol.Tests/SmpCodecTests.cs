using System.Security.Cryptography;
using System.Text;
using Smp.Protocol.Crypto;
using Smp.Protocol.Smp;

namespace Smp.Protocol.Tests;

public class SmpCodecTests
{
    private static string Text(SmpCommand c) => Encoding.ASCII.GetString(SmpCodec.ToBytes(c));

    private static byte[] Padded(string transmission) => Encoding.ASCII.GetBytes(transmission.PadRight(4080, '#'));

    [Fact]
    public void Responses_serialise_as_the_reference_writes_them()
    {
        Assert.Equal("OK", Text(SmpCommand.OkResponse));
        Assert.Equal("END", Text(SmpCommand.EndResponse));
        Assert.Equal("PONG", Text(SmpCommand.PongResponse));
        Assert.Equal("ERR CMD SYNTAX", Text(new SmpCommand.Err(SmpErrorCode.CmdSyntax)));
        Assert.Equal("ERR AUTH", Text(new SmpCommand.Err(SmpErrorCode.Auth)));
        Assert.Equal("IDS AQID BAUG", Text(new SmpCommand.Ids([1, 2, 3], [4, 5, 6])));
        var ts = new DateTimeOffset(2021, 5, 15, 16, 1, 53, 123, TimeSpan.Zero);
        Assert.Equal("MSG AQIDBAUG 2021-05-15T16:01:53.123Z 5 hello ", Text(new SmpCommand.Msg([1, 2, 3, 4, 5, 6], ts, "hello"u8.ToArray())));
        Assert.Equal("SEND 5 hello ", Text(new SmpCommand.Send("hello"u8.ToArray())));
    }

    [Fact]
    public void Timestamps_have_three_fraction_digits_truncated()
    {
        var ts = new DateTimeOffset(2021, 5, 15, 16, 1, 53, 999, TimeSpan.Zero).AddTicks(9999);
        Assert.Equal("2021-05-15T16:01:53.999Z", SmpCodec.FormatTimestamp(ts));
    }

    [Fact]
    public void Every_error_round_trips_through_its_text()
    {
        foreach (var code in Enum.GetValues<SmpErrorCode>())
        {
            Assert.True(SmpErrors.TryParse(SmpErrors.ToText(code), out var parsed));
            Assert.Equal(code, parsed);
        }
    }

    [Fact]
    public void Error_codes_are_frozen()
    {
        Assert.Equal(1, (int)SmpErrorCode.Block);
        Assert.Equal(2, (int)SmpErrorCode.CmdSyntax);
        Assert.Equal(8, (int)SmpErrorCode.Auth);
        Assert.Equal(9, (int)SmpErrorCode.NoMsg);
        Assert.Equal(11, (int)SmpErrorCode.Quota);
        Assert.Equal(7, (int)SmpCommandKind.Send);
        Assert.Equal(14, (int)SmpCommandKind.Pong);
    }

    [Fact]
    public void Transport_vector_transmission_parses_as_a_response()
    {
        var t = SmpTransmissionCodec.Parse(Padded(" 7 dGVzdA== OK "));
        Assert.Null(t.Error);
        Assert.Equal("7"u8.ToArray(), t.CorrId);
        Assert.Equal("test"u8.ToArray(), t.QueueId);
        Assert.IsType<SmpCommand.Ok>(t.Command);
    }

    [Fact]
    public void A_send_body_is_binary_safe_and_ends_with_two_spaces()
    {
        var body = new byte[] { 0x20, 0x23, 0x00, 0xff, 0x0a, 0x20 };
        var bytes = SmpTransmissionCodec.ToBytes(null, "1"u8, "test"u8, new SmpCommand.Send(body));
        Assert.Equal(" 1 dGVzdA== SEND 6 "u8.ToArray().Concat(body).Concat("  "u8.ToArray()).ToArray(), bytes);
        var padded = bytes.Concat(Enumerable.Repeat((byte)'#', 100)).ToArray();
        var t = SmpTransmissionCodec.ParseFromClient(padded);
        Assert.Null(t.Error);
        Assert.Equal(body, Assert.IsType<SmpCommand.Send>(t.Command).Body.ToArray());
    }

    [Fact]
    public void Signed_transmission_verifies_over_the_canonical_signed_part()
    {
        using var key = RSA.Create(1024);
        var spki = key.ExportSubjectPublicKeyInfo();
        var bytes = SmpTransmissionCodec.ToBytes(key, "abc"u8, [], new SmpCommand.New(spki));
        var t = SmpTransmissionCodec.ParseFromClient(bytes.Concat("###"u8.ToArray()).ToArray());
        Assert.Null(t.Error);
        Assert.Equal(128, t.Signature.Length);
        using var pub = RsaPublicKey.Parse(spki);
        Assert.True(pub.Verify(t.SignedBytes(), t.Signature));
        Assert.Equal(spki, Assert.IsType<SmpCommand.New>(t.Command).RecipientKey);
    }

    [Theory]
    [InlineData("nospacesatall", SmpErrorCode.Block, "")]
    [InlineData("sig corr", SmpErrorCode.Block, "")]
    [InlineData("!!!! 5 dGVzdA== SUB ", SmpErrorCode.Block, "5")]
    [InlineData(" 5 dGVzd SUB ", SmpErrorCode.Block, "5")]
    [InlineData("AAAA 5 dGVzdA== SUB ", SmpErrorCode.Block, "5")]
    [InlineData(" 5 dGVzdA== HELLO ", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== SUB", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== SUBX ", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== SEND 4 hello ", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== SEND 11 hello ", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== SEND hello ", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== SEND 99999999999999999999 x ", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== NEW rsa:!!!! ", SmpErrorCode.CmdSyntax, "5")]
    [InlineData(" 5 dGVzdA== OK ", SmpErrorCode.CmdProhibited, "5")]
    [InlineData(" 5 dGVzdA== MSG AQID 2021-05-15T16:01:53.123Z 1 x ", SmpErrorCode.CmdProhibited, "5")]
    [InlineData(" 5 dGVzdA== SUB ", SmpErrorCode.CmdNoAuth, "5")]
    [InlineData(" 5  SEND 1 x  ", SmpErrorCode.CmdNoQueue, "5")]
    [InlineData(" 5 dGVzdA== PING ", SmpErrorCode.CmdHasAuth, "5")]
    public void Malformed_client_transmissions_get_the_reference_errors(string text, SmpErrorCode expected, string corrId)
    {
        var t = SmpTransmissionCodec.ParseFromClient(Padded(text));
        Assert.Null(t.Command);
        Assert.Equal(expected, t.Error);
        Assert.Equal(Encoding.ASCII.GetBytes(corrId), t.CorrId);
    }

    [Fact]
    public void Ping_and_padding_after_the_trailing_space_are_accepted()
    {
        var t = SmpTransmissionCodec.ParseFromClient(Padded(" 1  PING junk"));
        Assert.IsType<SmpCommand.Ping>(t.Command);
    }
}
