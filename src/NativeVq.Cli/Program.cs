Console.Error.WriteLine("nativevq: the command line arrives with the VQ-VAE work; see README.md");
return 2;
