using Smp.Protocol.Encodings;

namespace Smp.Protocol.Tests;

public class AddressTests
{
    [Theory]
    [InlineData("localhost", "localhost", null, false)]
    [InlineData("localhost:5223", "localhost", 5223, false)]
    [InlineData("smp.example.com:443#KXNE1m2E1m0lm92WGKet9CL6+lO742Vy5G6nsrkvgs8=", "smp.example.com", 443, true)]
    [InlineData("127.0.0.1#KXNE1m2E1m0lm92WGKet9CL6+lO742Vy5G6nsrkvgs8=", "127.0.0.1", null, true)]
    public void Server_addresses_parse_and_print_back(string text, string host, int? port, bool hasHash)
    {
        Assert.True(SmpServerAddress.TryParse(text, out var a));
        Assert.Equal(host, a!.Host);
        Assert.Equal(port, a.Port);
        Assert.Equal(hasHash, a.KeyHash is not null);
        Assert.Equal(text, a.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData(":5223")]
    [InlineData("host:")]
    [InlineData("host:99999")]
    [InlineData("host:12a")]
    [InlineData("host#notb64!")]
    [InlineData("ho st")]
    public void Bad_server_addresses_are_refused(string text) => Assert.False(SmpServerAddress.TryParse(text, out _));

    [Fact]
    public void Queue_info_from_the_reference_vector_parses_and_prints_back()
    {
        const string text = "smp::localhost:45453#QzXnXHURgdMZH/3nz/SqJEAExqxR8ipA5/cERkSE/Sc=::gNJGjZUQuk+LA+EV::rsa:MIIBoTANBgkqhkiG9w0BAQEFAAOCAY4AMIIBiQKCAQEAnvB0";
        // The vector's key is truncated here; a full key is checked in the agent tests. This checks the framing.
        Assert.False(SmpQueueInfo.TryParse(text + "!", out _));
        Assert.True(SmpQueueInfo.TryParse(text + "AA==", out var q));
        Assert.Equal("localhost", q!.Server.Host);
        Assert.Equal(45453, q.Server.Port);
        Assert.Equal(12, q.SenderId.Length);
        Assert.Equal(text + "AA==", q.ToString());
    }

    [Theory]
    [InlineData("smp::localhost::AAAA")]
    [InlineData("smp::::AAAA::rsa:AAAA")]
    [InlineData("smq::localhost::AAAA::rsa:AAAA")]
    [InlineData("smp::localhost::AAA::rsa:AAAA")]
    [InlineData("smp::localhost::AAAA::dsa:AAAA")]
    public void Bad_queue_infos_are_refused(string text) => Assert.False(SmpQueueInfo.TryParse(text, out _));
}
