using Smp.Protocol.Agent;
using Smp.Protocol.Smp;
using TransportError = Smp.Protocol.Transport.TransportError;

namespace Smp.Protocol.Tests.Agent;

public class MsgIntegrityTests
{
    private static readonly byte[] H1 = AgentSamples.HashOf("one");
    private static readonly byte[] H2 = AgentSamples.HashOf("two");

    [Fact]
    public void The_check_follows_the_reference_order()
    {
        Assert.Equal(MsgIntegrity.Ok, MsgIntegrity.Check(0, [], 1, []));
        Assert.Equal(MsgIntegrity.Ok, MsgIntegrity.Check(4, H1, 5, H1));
        Assert.Equal(MsgIntegrity.Hash, MsgIntegrity.Check(4, H1, 5, H2));
        Assert.Equal(MsgIntegrity.Hash, MsgIntegrity.Check(0, [], 1, H1));
        Assert.Equal(MsgIntegrity.Id(2), MsgIntegrity.Check(4, H1, 2, H1));
        Assert.Equal(MsgIntegrity.Duplicate, MsgIntegrity.Check(4, H1, 4, H1));
        Assert.Equal(MsgIntegrity.NoId(5, 8), MsgIntegrity.Check(4, H1, 9, H1));
        Assert.Equal(MsgIntegrity.NoId(5, 5), MsgIntegrity.Check(4, H1, 6, H2));
    }

    [Fact]
    public void Wire_text_is_the_reference_serialisation_and_parses_back()
    {
        (MsgIntegrity Value, string Text)[] cases =
        [
            (MsgIntegrity.Ok, "OK"), (MsgIntegrity.Id(3), "ERR ID 3"), (MsgIntegrity.Duplicate, "ERR DUPLICATE"),
            (MsgIntegrity.NoId(2, 5), "ERR NO_ID 2 5"), (MsgIntegrity.Hash, "ERR HASH"),
        ];
        foreach (var (value, text) in cases)
        {
            Assert.Equal(text, value.ToString());
            Assert.True(MsgIntegrity.TryParse(text, out var parsed));
            Assert.Equal(value, parsed);
        }
    }

    [Fact]
    public void Parsing_stops_at_the_space_before_the_next_field()
    {
        Assert.True(MsgIntegrity.TryParse("ERR NO_ID 2 5 R=3,2021"u8, out var i, out var n));
        Assert.Equal(MsgIntegrity.NoId(2, 5), i);
        Assert.Equal(13, n);
    }

    [Theory]
    [InlineData("")]
    [InlineData("OKAY")]
    [InlineData("ERR")]
    [InlineData("ERR ID")]
    [InlineData("ERR ID x")]
    [InlineData("ERR IDS 1 2")]
    [InlineData("ERR NO_ID 1")]
    [InlineData("ERR ID 1234567890123456789012")]
    [InlineData("ERR HASHED")]
    public void Malformed_integrity_text_is_refused(string text) => Assert.False(MsgIntegrity.TryParse(text, out _));
}

public class AgentErrorsTests
{
    public static IEnumerable<AgentError> AllErrors()
    {
        foreach (var code in Enum.GetValues<AgentErrorCode>())
        {
            switch (code)
            {
                case AgentErrorCode.Smp:
                    foreach (var e in Enum.GetValues<SmpErrorCode>()) yield return AgentError.FromSmp(e);
                    break;
                case AgentErrorCode.BrokerResponse: yield return AgentError.BrokerResponse(SmpErrorCode.CmdSyntax); break;
                case AgentErrorCode.BrokerTransport: yield return AgentError.BrokerTransport("BAD_HASH"); break;
                case AgentErrorCode.Internal: yield return AgentError.Internal("SEInternal \"x\" \\ é\n\u0001 1"); break;
                default: yield return AgentError.Of(code); break;
            }
        }
    }

    [Fact]
    public void Every_error_round_trips_through_its_text()
    {
        foreach (var error in AllErrors())
        {
            var text = AgentErrors.ToText(error);
            Assert.True(AgentErrors.TryParse(text, out var parsed), text);
            Assert.Equal(error, parsed);
        }
    }

    [Fact]
    public void Errors_serialise_as_the_reference_writes_them()
    {
        Assert.Equal("CMD SYNTAX", AgentError.Of(AgentErrorCode.CmdSyntax).ToString());
        Assert.Equal("CMD NO_CONN", AgentError.Of(AgentErrorCode.CmdNoConn).ToString());
        Assert.Equal("SMP AUTH", AgentError.FromSmp(SmpErrorCode.Auth).ToString());
        Assert.Equal("SMP CMD NO_QUEUE", AgentError.FromSmp(SmpErrorCode.CmdNoQueue).ToString());
        Assert.Equal("BROKER RESPONSE AUTH", AgentError.BrokerResponse(SmpErrorCode.Auth).ToString());
        Assert.Equal("BROKER TRANSPORT TERMINATED", AgentError.BrokerTransport(TransportError.Closed).ToString());
        Assert.Equal("AGENT A_PROHIBITED", AgentError.Of(AgentErrorCode.AgentProhibited).ToString());
        Assert.Equal("GROUP MEMBER_UNKNOWN", AgentError.Of(AgentErrorCode.GroupMemberUnknown).ToString());
        Assert.Equal("INTERNAL \"SEInternal \\\"bad\\\"\"", AgentError.Internal("SEInternal \"bad\"").ToString());
        Assert.Equal("INTERNAL \"a\\n\\233\\&1\"", AgentError.Internal("a\né1").ToString());
    }

    [Fact]
    public void Error_codes_are_frozen()
    {
        Assert.Equal(1, (int)AgentErrorCode.CmdProhibited);
        Assert.Equal(5, (int)AgentErrorCode.CmdLarge);
        Assert.Equal(13, (int)AgentErrorCode.ConnSimplex);
        Assert.Equal(21, (int)AgentErrorCode.Smp);
        Assert.Equal(35, (int)AgentErrorCode.BrokerTimeout);
        Assert.Equal(41, (int)AgentErrorCode.AgentMessage);
        Assert.Equal(55, (int)AgentErrorCode.GroupState);
        Assert.Equal(61, (int)AgentErrorCode.Internal);
        Assert.Equal(5, (int)MsgIntegrityKind.Hash);
    }

    [Theory]
    [InlineData("CMD")]
    [InlineData("CMD SYNTAX ")]
    [InlineData("CMD WHAT")]
    [InlineData("SMP")]
    [InlineData("SMP NOPE")]
    [InlineData("BROKER TRANSPORT")]
    [InlineData("BROKER TRANSPORT bad")]
    [InlineData("INTERNAL")]
    [InlineData("INTERNAL unquoted")]
    [InlineData("INTERNAL \"open")]
    [InlineData("INTERNAL \"bad \\q escape\"")]
    [InlineData("INTERNAL \"\\99999999\"")]
    [InlineData("GROUP")]
    public void Malformed_error_text_is_refused(string text) => Assert.False(AgentErrors.TryParse(text, out _));

    [Fact]
    public void Errors_that_need_an_argument_cannot_be_made_without_one()
    {
        Assert.Throws<ArgumentException>(() => AgentError.Of(AgentErrorCode.Smp));
        Assert.Throws<ArgumentException>(() => AgentError.BrokerTransport("lower"));
        Assert.Equal(AgentErrorCode.GroupUnknown, new AgentProtocolException(AgentErrorCode.GroupUnknown).Error.Code);
    }
}
