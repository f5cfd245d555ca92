using System.Security.Cryptography;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Protocol.Tests;

public class E2eEnvelopeVectorTests
{
    public static TheoryData<int> MessageIndexes => [0, 1, 2, 3];

    [Theory]
    [MemberData(nameof(MessageIndexes))]
    public void Reference_body_decrypts_to_the_given_plaintext_and_its_signature_verifies(int index)
    {
        using var doc = VectorFiles.Load("agent-envelopes.json");
        var root = doc.RootElement;
        using var key = RSA.Create();
        key.ImportPkcs8PrivateKey(Convert.FromBase64String(root.GetProperty("decryption_key_pkcs8_b64").GetString()!), out _);
        Assert.True(PublicKeyText.TryParseDer(root.GetProperty("hello_verification_key").GetString()!, out var verifyDer));
        Assert.True(SmpRsa.TryImportPublicKey(verifyDer, out var verifyKey));
        using var verifyKeyScope = verifyKey;
        var m = root.GetProperty("messages")[index];
        var body = Convert.FromBase64String(m.GetProperty("body_b64").GetString()!);
        var expected = Convert.FromBase64String(m.GetProperty("plaintext_b64").GetString()!);

        Assert.Equal(E2eEnvelope.BodySize(4096, 256), body.Length);
        Assert.True(E2eEnvelope.TrySplit(body, 256, out var signature, out var encrypted));
        Assert.True(E2eEnvelope.TryDecrypt(key, encrypted, out var plaintext));
        Assert.Equal(expected, plaintext);
        Assert.Equal(m.GetProperty("signature_verifies_with_hello_key").GetBoolean(), verifyKey!.Verify(encrypted, signature));
    }

    [Fact]
    public void The_hello_key_has_a_huge_public_exponent_and_still_verifies()
    {
        using var doc = VectorFiles.Load("agent-envelopes.json");
        Assert.True(PublicKeyText.TryParseDer(doc.RootElement.GetProperty("hello_verification_key").GetString()!, out var der));
        Assert.True(SmpRsa.TryImportPublicKey(der, out var key));
        using var keyScope = key;
        Assert.True(key!.ExponentBits > 512);
    }

    [Fact]
    public void Sealed_body_round_trips_and_a_tampered_one_fails_the_signature()
    {
        // OAEP-SHA256 fits at most 62 bytes under a 1024-bit key: the 68-byte header needs 2048 bits.
        using var recipient = RSA.Create(2048);
        using var signer = RSA.Create(1024);
        var size = E2eEnvelope.PaddedSize(4096, 256);
        using var recipientPub = RsaPublicKey.FromRsa(recipient);
        using var signerPub = RsaPublicKey.FromRsa(signer);
        var body = E2eEnvelope.Seal(recipientPub, signer, "hello"u8, size);
        Assert.Equal(128 + 256 + size, body.Length);
        Assert.True(E2eEnvelope.TrySplit(body, 128, out var sig, out var enc));
        Assert.True(signerPub.Verify(enc, sig));
        Assert.True(E2eEnvelope.TryDecrypt(recipient, enc, out var plain));
        Assert.Equal("hello"u8.ToArray(), plain);
        body[^1] ^= 0x80;
        Assert.True(E2eEnvelope.TrySplit(body, 128, out sig, out enc));
        Assert.False(signerPub.Verify(enc, sig));
        Assert.False(E2eEnvelope.TryDecrypt(recipient, enc, out _));
    }
}
