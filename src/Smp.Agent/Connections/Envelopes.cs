using System.Security.Cryptography;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;

namespace Smp.Agent.Connections;

/// <summary>Sealing agent envelopes for a connection's send queue (agent.md §1).</summary>
internal static class Envelopes
{
    /// <summary>Transport block size the padded envelope size is computed for (smp.md §2).</summary>
    public const int BlockSize = 4096;

    /// <summary>End-to-end keys are RSA-2048: the envelope header does not fit OAEP under 1024 bits.</summary>
    public const int E2eKeyBits = 2048;

    /// <summary>Padded plaintext size of every envelope we seal: 3,072 bytes with 4,096-byte blocks.</summary>
    public static int PaddedSize { get; } = E2eEnvelope.PaddedSize(BlockSize, E2eKeyBits / 8);

    /// <summary>
    /// Whether an envelope fits the padded size with the largest header (19-digit id, full hash); the
    /// reference refuses a plaintext that fills it exactly, so we stay strictly below.
    /// </summary>
    public static bool Fits(AgentEnvelope envelope) =>
        AgentPlaintextCodec.Encode(new AgentPlaintext.Message(long.MaxValue / 10, DateTimeOffset.UtcNow, new byte[32], envelope)).Length < PaddedSize;

    /// <summary>
    /// Takes the connection's next chain position (and, for a client's message, its next agent message id)
    /// and encodes the envelope's plaintext with it (agent.md §1.3). Only hashing here: the RSA of sealing
    /// is left to <see cref="Seal"/>, outside the transaction.
    /// </summary>
    public static (long InternalId, byte[] Plaintext) NextPlaintext(StoreTx tx, string alias, AgentEnvelope envelope, bool clientMessage)
    {
        var (internalId, sndId, prevHash) = tx.NextSndIds(alias, clientMessage);
        var plaintext = AgentPlaintextCodec.Encode(new AgentPlaintext.Message(sndId, DateTimeOffset.UtcNow, prevHash, envelope));
        tx.SetLastSndHash(alias, SHA256.HashData(plaintext));
        return (internalId, plaintext);
    }

    /// <summary>Encrypts a plaintext for the peer and signs it with our key of the send queue (agent.md §2).</summary>
    public static byte[] Seal(SndQueueRecord snd, byte[] plaintext)
    {
        using var encryptKey = RsaKeys.Public.Rent(snd.EncryptKey);
        using var signKey = RsaKeys.Private.Rent(snd.SignKey);
        return E2eEnvelope.Seal(encryptKey.Key, signKey.Key, plaintext, PaddedSize);
    }

    /// <summary>An unchained envelope (HELLO, REPLY) sealed for <paramref name="encryptKey"/>.</summary>
    public static byte[] SealUnchained(RsaPublicKey encryptKey, RSA signKey, AgentEnvelope envelope) =>
        E2eEnvelope.Seal(encryptKey, signKey, AgentWire.Unchained(envelope), PaddedSize);

    public static byte[] SealConfirmation(RsaPublicKey encryptKey, RSA signKey, byte[] senderKey) =>
        E2eEnvelope.Seal(encryptKey, signKey, AgentWire.Confirmation(senderKey), PaddedSize);
}

internal static class Keys
{
    /// <summary>A random alias for a connection or group the client left unnamed.</summary>
    public static string NewAlias() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(9)).Replace('+', '-').Replace('/', '_');
}
