"""`nophd train DATASET`: train one model and write its run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from nophd import config, quiet, scoring
from nophd.cli import arguments
from nophd.data import photo_augment


def add_parser(subparsers) -> None:
    """Adds the `train` subcommand to the nophd parser."""
    train = subparsers.add_parser(
        "train", help="train one model and write its run folder",
        description="Train a ladder model on MNIST, or a transfer-learning photo classifier on tf_flowers, "
                    "an image folder ROOT/<class>/*.jpg, or TFRecord shards from `nophd data tfrecords`.")
    train.add_argument("dataset", help="mnist, flowers, or the path of an image folder or a TFRecord shard folder")
    train.add_argument("--model", help="mnist: a name from `nophd models` (required)")
    train.add_argument("--net", metavar="NAME",
                       help="mnist: train this net from `nophd models` with --model's recipe (default: the model's own "
                            "net), e.g. --model conv-bn-fast --net conv-bn-norm")
    train.add_argument("--epochs", type=arguments.positive_int)
    train.add_argument("--batch-size", type=arguments.positive_int)
    train.add_argument("--learning-rate", type=arguments.positive_float, help="initial learning rate")
    train.add_argument("--seed", type=arguments.seed, help="seed for repeatable runs (default 0)")
    train.add_argument("--classes", choices=config.DIGIT_CLASSES,
                       help="mnist: digits (ten classes, default) or even-odd (two: even 0, odd 1; the model ends in "
                            "a softmax of two, or one sigmoid with dense-binary's binary cross-entropy)")
    train.add_argument("--shift-pixels", type=arguments.non_negative_int,
                       help="augment with random shifts of up to N pixels (default: the model's recipe)")
    train.add_argument("--lr-schedule", choices=("exponential", "cosine"),
                       help="exponential: the recipe's per-epoch decay (the codelab's); cosine: a linear warm-up "
                            "over --warmup-epochs, then a cosine decay to 0 at the last step (digit runs)")
    train.add_argument("--warmup-epochs", type=float, help="the cosine schedule's warm-up, in epochs (default 0)")
    train.add_argument("--label-smoothing", type=float,
                       help="spread this share of each label over all classes (default: the recipe's; 0 for none)")
    train.add_argument("--weight-average", type=arguments.positive_float, metavar="DECAY",
                       help="end with an exponential moving average of the weights, decay DECAY per step (e.g. "
                            "0.999; default: the recipe's, mostly none)")
    train.add_argument("--loss", choices=config.LOSSES,
                       help="default: the recipe's (mnist) or sparse_categorical_crossentropy (photos); "
                            "binary_crossentropy trains one sigmoid output for two classes (mnist with --classes "
                            "even-odd, or a photo folder of two classes)")
    train.add_argument("--clipnorm", type=arguments.positive_float, metavar="NORM",
                       help="rescale each gradient to at most this L2 norm (default: the recipe's; rnn-bigru 1.0)")
    train.add_argument("--clipvalue", type=arguments.positive_float, metavar="VALUE",
                       help="clip each gradient element to [-VALUE, VALUE] (default: none)")
    train.add_argument("--validation-split", "--val-split", type=float,
                       help="hold out this share of the training set for validation (mnist default 0: validate on "
                            "the test set, as the codelab does; photos default 0.2 of each class)")
    train.add_argument("--out", type=Path, help="run folder (default runs/<time>-<model>)")
    train.add_argument("--runs-root", type=Path, default=Path("runs"), help="where new run folders go (default runs)")
    train.add_argument("--resume", action="store_true", help="continue an interrupted run (in --out, or the newest of this model)")
    arguments.add_data_dir(train)
    arguments.add_limits(train)
    arguments.add_digit_augmentation(train)
    photos = train.add_argument_group("photo datasets (transfer learning)")
    photos.add_argument("--base", choices=config.BASES,
                        help="backbone (default efficientnet_lite0, chosen on a tuning split); efficientnet_lite0/1/2 train at "
                             "their native 224/240/260 pixels and the MobileNets at 192 unless --image-size says "
                             "otherwise; Lite weights come from `nophd weights import` or are downloaded")
    photos.add_argument("--head", choices=config.HEADS,
                        help="flatten (the lab's: a weight per position), gap (global average pooling, the default) "
                             "or gmp (global max pooling: each feature map's strongest response)")
    photos.add_argument("--dropout", type=float, help="dropout before the last layer (default 0.2)")
    photos.add_argument("--image-size", type=arguments.positive_int, help="side of the square input in pixels (default: the backbone's, 224 for efficientnet_lite0, 192 for the MobileNets)")
    photos.add_argument("--weights", help="backbone weights: a .h5 file, imagenet, none, or auto (default: "
                                          "weights/ in --data-dir or beside it, $NOPHD_DATA/weights, ~/.cache/nophd/weights, then imagenet: the Keras cache or a download)")
    photos.add_argument("--fine-tune-epochs", type=arguments.non_negative_int,
                        help="epochs of fine-tuning after the frozen ones (default 8; 0 for none)")
    photos.add_argument("--fine-tune-layers", type=arguments.non_negative_int,
                        help="top backbone layers to unfreeze (default 60; batch norm stays frozen)")
    photos.add_argument("--fine-tune-learning-rate", type=arguments.positive_float,
                        help="first learning rate of fine-tuning (default 5e-5)")
    photos.add_argument("--lr-decay", type=arguments.positive_float,
                        help="multiply the fine-tuning learning rate by this after each epoch (default 0.75; 1 keeps it)")
    photos.add_argument("--augment", nargs="?", const=("all", None), type=arguments.photo_augmentation, metavar="WHEN,WHICH",
                        help="when: all (both phases; what --augment alone means), fine-tune (only while fine-tuning, "
                             "the default: keeps the fast cached frozen phase) or off; which: comma-separated "
                             f"transforms from {', '.join(photo_augment.TRANSFORMS)} (default "
                             f"{','.join(photo_augment.DEFAULT)}; leave out flip when left and right mean different "
                             "classes), e.g. --augment all,rotate,zoom")
    photos.add_argument("--tuning-split", type=arguments.non_negative_float, metavar="F",
                        help="for choosing recipes: hold out this share of each class's training photos, train on the "
                             "rest and score on it; the validation split is not read (see benchmarks/photo_recipes.py)")
    photos.add_argument("--class-weight", choices=("none", "balanced"), help="balanced: weigh classes by inverse frequency")
    scale = train.add_argument_group("scaling out (see the README's Scaling out)")
    scale.add_argument("--strategy", choices=("auto", "one", "mirrored", "multiworker", "tpu"), default="auto",
                       help="tf.distribute strategy (default auto: multiworker with --workers or TF_CONFIG, mirrored "
                            "with several GPUs or --cpu-devices N, else one device)")
    scale.add_argument("--cpu-devices", type=arguments.positive_int,
                       help="split the CPU into N logical devices (to try mirrored training without GPUs)")
    scale.add_argument("--workers", help="HOST:PORT,HOST:PORT,...: every worker of a multi-worker run, in order "
                                         "(instead of TF_CONFIG)")
    scale.add_argument("--worker-index", type=arguments.non_negative_int, default=0,
                       help="this worker's position in --workers (0, the chief, writes the run folder)")
    scale.add_argument("--worker-timeout", type=arguments.positive_int,
                       help="seconds a worker waits for its peers to start or answer before it stops (default 60)")
    scale.add_argument("--lr-scaling", choices=("linear", "sqrt", "none"),
                       help="how the learning rate grows with the replica count (default linear); "
                            "--batch-size is per replica")
    scale.add_argument("--mixed-precision", action="store_true",
                       help="mixed_float16 on GPU, mixed_bfloat16 on CPU/TPU (measured no faster on a 2-core CPU; see README)")
    scale.add_argument("--jit", action="store_true",
                       help="compile the training step with XLA (measured 2x slower on a 2-core CPU; see README)")
    train.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import nophd

    # Which flags go with which dataset is the library's to check
    # (nophd.train_dataset): the Python API refuses the same mistakes.
    result = nophd.train_dataset(
        args.dataset, model=args.model, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        out=args.out, resume=args.resume, data_dir=args.data_dir, runs_root=args.runs_root, progress=not args.quiet,
        learning_rate=args.learning_rate, validation_split=args.validation_split, shift_pixels=args.shift_pixels,
        classes=args.classes, net=args.net, loss=args.loss,
        lr_schedule=args.lr_schedule, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
        weight_average=args.weight_average, clipnorm=args.clipnorm, clipvalue=args.clipvalue,
        train_limit=args.train_limit, test_limit=args.test_limit, **arguments.digit_augmentation(args),
        base=args.base, head=args.head, dropout=args.dropout, image_size=args.image_size, weights=args.weights,
        fine_tune_epochs=args.fine_tune_epochs, fine_tune_layers=args.fine_tune_layers,
        fine_tune_learning_rate=args.fine_tune_learning_rate, lr_decay=args.lr_decay,
        augment=args.augment[0] if args.augment else None, augmentations=args.augment[1] if args.augment else None,
        class_weight=args.class_weight, tuning_split=args.tuning_split,
        strategy=args.strategy, cpu_devices=args.cpu_devices, workers=args.workers, worker_index=args.worker_index,
        worker_timeout=args.worker_timeout, lr_scaling=args.lr_scaling,
        mixed_precision=True if args.mixed_precision else None, jit=True if args.jit else None,
    )
    metrics = result.metrics
    name = f"{metrics['model']} on {metrics['net']}" if args.net and metrics.get("net") else metrics["model"]
    print(f"{name}: {result.scored_on} accuracy {100 * metrics['test_accuracy']:.2f}%  loss {metrics['test_loss']:.4f}  "
          f"{metrics['epochs'] + metrics.get('fine_tune_epochs', 0)} epochs  {metrics['wall_seconds']:.0f} s")
    print(f"report: {result.run_directory / 'report.html'}")
    for warning in (scoring.one_class_warning_of(metrics), scoring.few_examples_warning_of(metrics)):
        if warning:
            print(f"warning: {warning}")
    return 0
