using System.Buffers;
using Smp.Agent.Smp;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Agent.Tests;

public sealed class SmpClientErrorTests
{
    public static TheoryData<SmpClientError, string> WireTexts => new()
    {
        { SmpClientError.Server(SmpErrorCode.Auth), "SMP AUTH" },
        { SmpClientError.Server(SmpErrorCode.CmdKeySize), "SMP CMD KEY_SIZE" },
        { SmpClientError.Server(SmpErrorCode.NoMsg), "SMP NO_MSG" },
        { SmpClientError.Timeout, "BROKER TIMEOUT" },
        { SmpClientError.Network, "BROKER NETWORK" },
        { SmpClientError.Unexpected, "BROKER UNEXPECTED" },
        { SmpClientError.Response(SmpErrorCode.CmdSyntax), "BROKER RESPONSE CMD SYNTAX" },
        { SmpClientError.Response(SmpErrorCode.Block), "BROKER RESPONSE BLOCK" },
        { SmpClientError.Transport(TransportError.BadKeyHash), "BROKER TRANSPORT BAD_HASH" },
        { SmpClientError.Transport(TransportError.Version), "BROKER TRANSPORT MAJOR_VERSION" },
        { SmpClientError.Transport(TransportError.Handshake), "BROKER TRANSPORT HEADER" },
        { SmpClientError.Transport(TransportError.BadBlockSize), "BROKER TRANSPORT HEADER" },
        { SmpClientError.Large, "CMD LARGE" },
    };

    [Theory]
    [MemberData(nameof(WireTexts))]
    public void Client_errors_have_the_agents_wire_text(SmpClientError error, string text)
    {
        var w = new ArrayBufferWriter<byte>();
        error.Write(w);

        Assert.Equal(text, error.ToWireText());
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(w.WrittenSpan));
    }

    [Fact]
    public void The_exception_carries_the_typed_error_and_says_it_in_its_message()
    {
        var e = new SmpClientException(SmpClientError.Server(SmpErrorCode.Auth), "SUB");

        Assert.Equal(SmpClientErrorKind.Smp, e.Error.Kind);
        Assert.Equal(SmpErrorCode.Auth, e.Error.SmpError);
        Assert.Equal("SMP AUTH: SUB", e.Message);
    }
}
