using System.Security.Cryptography;

namespace Smp.Server;

/// <summary>
/// The server's transport key: one unencrypted RSA private key in PEM. Made on first run as PKCS#1
/// ("RSA PRIVATE KEY", as the reference writes it); PKCS#8 ("PRIVATE KEY") is read too.
/// </summary>
internal static class ServerKeyFile
{
    public const string FileName = "server_key.pem";

    /// <summary>
    /// Loads the key, or makes one when there is none. When <paramref name="storeExists"/>, a missing key
    /// is made only if <paramref name="allowNew"/>: a new key is a new server address, and every client of
    /// the stored queues would stop reaching this server.
    /// </summary>
    public static RSA LoadOrCreate(string directory, int keyBits, bool storeExists, bool allowNew, out bool created)
    {
        var path = Path.Combine(directory, FileName);
        created = false;
        if (!File.Exists(path) && storeExists && !allowNew)
            throw new SmpServerStartException(SmpServerStartFailure.KeyMissing, path,
                $"the server key {path} is missing but {directory} holds queues and messages; a new key would be a new server address for every client, so none is made. Restore the key from a backup, or allow a new key explicitly (smp server --new-key)");
        if (File.Exists(path))
        {
            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(File.ReadAllText(path));
                return rsa;
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                rsa.Dispose();
                throw new InvalidOperationException($"{path}: not exactly one unencrypted RSA private key in PEM ({e.Message})", e);
            }
        }
        var key = RSA.Create(keyBits);
        var tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            using var w = new StreamWriter(f);
            w.Write(key.ExportRSAPrivateKeyPem());
            w.Write('\n');
            w.Flush();
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
        created = true;
        return key;
    }
}
