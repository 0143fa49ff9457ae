"""The seed post's whole flow, as written there, for all ten digits: the yardstick of `bench.py --mnist`.

    python bench/post_flow.py DIR [OUT]     # DIR holds train.csv and test.csv; writes OUT/submission.csv (default: DIR/..)

Reads the CSVs with pandas, one-hot encodes the labels, builds `list(zip(x, y))`, splits it with `random_split`,
wraps both parts in fastai `DataLoader`s of 256, trains the post's `simple_net` with `Learner.fit(60, lr=0.1)`
(SGD, cross-entropy), labels test.csv and writes the submission line by line, exactly as the post does. The only
changes: the split is in proportion (the post's 32,000/10,000 assumes 42,000 rows) and the seed is fixed.
"""
import sys
from pathlib import Path
from fastai.vision.all import *

path = Path(sys.argv[1]); out = Path(sys.argv[2]) if len(sys.argv) > 2 else path.parent
set_seed(42)
df_train, df_test = pd.read_csv(path/'train.csv'), pd.read_csv(path/'test.csv')
X_train = tensor(df_train.drop(labels=['label'], axis=1)) / 255.0
y_train_numeric = df_train['label']
rows = np.arange(y_train_numeric.size)
y_train = tensor(np.zeros((y_train_numeric.size, 10)))
y_train[rows, y_train_numeric] = 1
ds = list(zip(X_train, y_train))
n_valid = round(len(ds) * 10/42)
train, val = torch.utils.data.random_split(ds, [len(ds) - n_valid, n_valid])
dls = DataLoaders(DataLoader(train, batch_size=256), DataLoader(val, batch_size=256))
def mnist_loss(xb, yb): return nn.CrossEntropyLoss()(xb, yb)
def batch_accuracy(xb, yb): return (xb.argmax(dim=1) == yb.argmax(dim=1)).float().mean()
simple_net = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
learn = Learner(dls, simple_net, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
with learn.no_bar(), learn.no_logging(): learn.fit(60, lr=0.1)
print(f"valid accuracy {learn.recorder.values[-1][2]:.4f}")
X_test = tensor(df_test.values) / 255.0
y_pred = torch.argmax(simple_net(X_test), dim=1).tolist()
with open(out/'submission.csv', 'w+') as f:
    f.write('ImageId,Label\n')
    for i in range(len(y_pred)): f.write(''.join([str(i+1), ',', str(y_pred[i]), '\n']))
