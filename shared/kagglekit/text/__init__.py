"""Text classification for kagglekit: a texts loader, cleaning, features and backends.

- ``kagglekit.text.clean``: the cleaning step (general: any script; tweets: URLs,
  mentions, HTML entities, mojibake).
- ``kagglekit.text.tokens``: words of any script (Chinese segmented by jieba).
- ``kagglekit.text.loaders``: the ``text_csv`` loader and the ``Texts`` row container.
- ``kagglekit.text.features``: TF-IDF word and character n-grams plus side columns.
- ``kagglekit.text.backends``: linear models on TF-IDF (LR, linear SVM, ridge, NB-SVM),
  word2vec + LR, sentence embeddings + LR, an LSTM and a fine-tuned transformer (the last
  two on the shared trainer, ``kagglekit.torch``).

Importing this package imports nothing heavy: gensim, torch, transformers and
sentence-transformers are imported when a model that needs them is built.
"""
