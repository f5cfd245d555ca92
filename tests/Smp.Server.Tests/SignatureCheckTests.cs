using System.Text;
using Smp.Protocol.Crypto;

namespace Smp.Server.Tests;

public sealed class SignatureCheckTests
{
    [Theory]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(512)]
    [InlineData(0)]
    [InlineData(100)]
    public void Dummy_verification_takes_any_signature_size_without_throwing(int size) =>
        SignatureCheck.DummyVerify(new byte[size], "data"u8);

    [Fact]
    public void Verify_accepts_only_the_matching_key()
    {
        var data = Encoding.ASCII.GetBytes("1 AQID SUB");
        var sig = SmpRsa.Sign(TestKeys.Recipient, data);
        Assert.True(SignatureCheck.Verify(SmpRsa.ExportPublicKey(TestKeys.Recipient), sig, data));
        Assert.False(SignatureCheck.Verify(SmpRsa.ExportPublicKey(TestKeys.Other), sig, data));
        Assert.False(SignatureCheck.Verify(null, sig, data));
        Assert.False(SignatureCheck.Verify([1, 2, 3], sig, data));
    }
}
